// Augmentation options: validation. No LibTorch here.
#include "common/audio/augment_options.h"

#include <cmath>
#include <string>

#include "common/util/format.h"

namespace chorus::audio {

namespace {

std::string Num(double v) { return FormatNumber(v); }
Status Bad(const std::string& what) { return InvalidArgument("augment options: " + what); }

}  // namespace

Status ValidateAugmentOptions(const AugmentOptions& o) {
  if (!std::isfinite(o.time_shift_ms) || o.time_shift_ms < 0.0) {
    return Bad("time_shift_ms " + Num(o.time_shift_ms) + " must be >= 0");
  }
  if (!(o.noise_probability >= 0.0 && o.noise_probability <= 1.0)) {
    return Bad("noise_probability " + Num(o.noise_probability) + " must be in [0, 1]");
  }
  if (!std::isfinite(o.noise_volume_max) || o.noise_volume_max < 0.0) {
    return Bad("noise_volume_max " + Num(o.noise_volume_max) + " must be >= 0");
  }
  if (!std::isfinite(o.snr_db_min) || !std::isfinite(o.snr_db_max)) {
    return Bad("snr_db_min " + Num(o.snr_db_min) + " and snr_db_max " + Num(o.snr_db_max) + " must be finite");
  }
  if (o.snr_db_min > o.snr_db_max) {
    return Bad("snr_db_min " + Num(o.snr_db_min) + " must not exceed snr_db_max " + Num(o.snr_db_max));
  }
  if (!(o.speed_min > 0.5 && o.speed_max < 2.0 && o.speed_min <= o.speed_max)) {
    return Bad("speed_min " + Num(o.speed_min) + " and speed_max " + Num(o.speed_max) +
               " must satisfy 0.5 < speed_min <= speed_max < 2");
  }
  if (!(o.gain_db_max >= 0.0 && o.gain_db_max <= 40.0)) {
    return Bad("gain_db_max " + Num(o.gain_db_max) + " must be in [0, 40]");
  }
  if (o.time_masks < 0) return Bad("time_masks " + std::to_string(o.time_masks) + " must be >= 0");
  if (o.time_mask_max < 0) return Bad("time_mask_max " + std::to_string(o.time_mask_max) + " must be >= 0");
  if (o.freq_masks < 0) return Bad("freq_masks " + std::to_string(o.freq_masks) + " must be >= 0");
  if (o.freq_mask_max < 0) return Bad("freq_mask_max " + std::to_string(o.freq_mask_max) + " must be >= 0");
  return Status::Ok();
}

}  // namespace chorus::audio
