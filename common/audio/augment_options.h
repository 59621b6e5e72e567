// AugmentOptions: training-time augmentation settings (see augment.h). Free
// of LibTorch so job specs can be parsed and validated cheaply.
#pragma once

#include "common/util/status.h"

namespace chorus::audio {

struct AugmentOptions {
  double speed_min = 1.0;         // speed perturbation: resample by a factor uniform in
  double speed_max = 1.0;         // [speed_min, speed_max] (changes tempo and pitch); 1, 1: off
  double gain_db_max = 0.0;       // random gain uniform in [-g, +g] dB; 0: off
  double time_shift_ms = 100.0;   // shift uniformly in [-t, t], zero-filled
  double noise_probability = 0.8; // chance that a clip gets background noise
  double noise_volume_max = 0.1;  // noise volume uniform in [0, max] ...
  bool use_snr = false;           // ... or, when true, an SNR uniform in [snr_db_min, snr_db_max]
  double snr_db_min = 5.0;
  double snr_db_max = 20.0;
  int time_masks = 2;             // SpecAugment: count and maximum width (frames)
  int time_mask_max = 10;
  int freq_masks = 2;             // count and maximum width (bins)
  int freq_mask_max = 5;
};

Status ValidateAugmentOptions(const AugmentOptions& options);

}  // namespace chorus::audio
