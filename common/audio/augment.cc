// Augmentation. Random numbers are drawn from the raw 64-bit output of the
// caller's std::mt19937_64 (whose sequence the standard fixes) rather than
// through std::uniform_*_distribution (whose algorithms differ between
// standard libraries), so a given seed gives the same augmentation with any
// compiler.
#include "common/audio/augment.h"

#include "common/audio/resample.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <utility>

#include "common/util/check.h"

namespace chorus::audio {
namespace {

// Below this mean-square power (-100 dBFS) a clip counts as silent, and an SNR
// relative to it is meaningless.
constexpr double kSilentPower = 1e-10;

// Uniform in [0, 1).
double Uniform01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double UniformReal(std::mt19937_64& rng, double lo, double hi) { return lo + (hi - lo) * Uniform01(rng); }

// Uniform integer in [lo, hi] (lo <= hi). The modulo bias is below 2^-40 for
// any range used here.
int64_t UniformInt(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(rng() % span);
}

double MeanSquare(const float* x, size_t n, size_t offset = 0, size_t period = 0) {
  if (n == 0) return 0.0;
  double sum = 0.0;
  if (period == 0) {
    for (size_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  } else {
    for (size_t i = 0; i < n; ++i) {
      const double v = x[(offset + i) % period];
      sum += v * v;
    }
  }
  return sum / static_cast<double>(n);
}

}  // namespace

Augmenter::Augmenter(AugmentOptions options, std::vector<Waveform> noises, int sample_rate)
    : options_(options), sample_rate_(sample_rate) {
  const Status valid = ValidateAugmentOptions(options_);
  CHORUS_CHECK(valid.ok()) << valid.message() << " (validate options before building an Augmenter)";
  CHORUS_CHECK(sample_rate_ > 0) << "sample rate " << sample_rate_;
  // Empty clips cannot supply noise; dropping them keeps the picks below total.
  for (auto& noise : noises) {
    if (!noise.samples.empty()) noises_.push_back(std::move(noise));
  }
}

void Augmenter::ApplyToWave(std::vector<float>& samples, std::mt19937_64& rng) const {
  const auto n = static_cast<int64_t>(samples.size());
  if (n == 0) return;

  // Speed perturbation: play the clip `factor` times faster (fewer samples),
  // then centre it back into the clip length.
  if (options_.speed_min != 1.0 || options_.speed_max != 1.0) {
    const double factor = UniformReal(rng, options_.speed_min, options_.speed_max);
    const int target = static_cast<int>(std::lround(sample_rate_ / factor));
    if (target != sample_rate_) {
      Result<std::vector<float>> faster = Resample(samples, sample_rate_, target);
      if (faster.ok()) {
        std::vector<float> fitted(n, 0.0f);
        const auto m = static_cast<int64_t>(faster->size());
        if (m >= n) {
          std::copy(faster->begin() + (m - n) / 2, faster->begin() + (m - n) / 2 + n, fitted.begin());
        } else {
          std::copy(faster->begin(), faster->end(), fitted.begin() + (n - m) / 2);
        }
        samples.swap(fitted);
      }
    }
  }
  if (options_.gain_db_max > 0.0) {
    const float gain = static_cast<float>(std::pow(10.0, UniformReal(rng, -options_.gain_db_max, options_.gain_db_max) / 20.0));
    for (float& x : samples) x = std::clamp(x * gain, -1.0f, 1.0f);
  }

  // Time shift: positive moves the content later; the gap is zero-filled.
  const auto max_shift = static_cast<int64_t>(std::llround(options_.time_shift_ms * sample_rate_ / 1000.0));
  if (max_shift > 0) {
    const int64_t shift = UniformInt(rng, -max_shift, max_shift);
    if (shift >= n || shift <= -n) {
      std::fill(samples.begin(), samples.end(), 0.0f);
    } else if (shift > 0) {
      std::move_backward(samples.begin(), samples.end() - shift, samples.end());
      std::fill(samples.begin(), samples.begin() + shift, 0.0f);
    } else if (shift < 0) {
      std::move(samples.begin() - shift, samples.end(), samples.begin());
      std::fill(samples.end() + shift, samples.end(), 0.0f);
    }
  }

  if (noises_.empty() || options_.noise_probability <= 0.0) return;
  if (Uniform01(rng) >= options_.noise_probability) return;
  if (!options_.use_snr) {
    MixNoise(samples, static_cast<float>(UniformReal(rng, 0.0, options_.noise_volume_max)), rng);
    return;
  }

  // SNR mode: scale the chosen stretch so 10 log10(P_signal / P_noise) = snr.
  const double snr_db = UniformReal(rng, options_.snr_db_min, options_.snr_db_max);
  const double signal_power = MeanSquare(samples.data(), samples.size());
  if (signal_power < kSilentPower) {
    // A silent clip has no level to be relative to: fall back to a volume.
    MixNoise(samples, static_cast<float>(UniformReal(rng, 0.0, options_.noise_volume_max)), rng);
    return;
  }
  const auto& noise = noises_[static_cast<size_t>(UniformInt(rng, 0, static_cast<int64_t>(noises_.size()) - 1))];
  const auto len = static_cast<int64_t>(noise.samples.size());
  const int64_t offset = len >= n ? UniformInt(rng, 0, len - n) : UniformInt(rng, 0, len - 1);
  const double noise_power =
      MeanSquare(noise.samples.data(), samples.size(), static_cast<size_t>(offset), static_cast<size_t>(len));
  if (noise_power < kSilentPower) return;  // a silent stretch adds nothing at any gain
  const double gain = std::sqrt(signal_power / (noise_power * std::pow(10.0, snr_db / 10.0)));
  for (int64_t i = 0; i < n; ++i) {
    const float v = samples[i] + static_cast<float>(gain * noise.samples[static_cast<size_t>((offset + i) % len)]);
    samples[i] = std::clamp(v, -1.0f, 1.0f);
  }
}

void Augmenter::MixNoise(std::vector<float>& samples, float volume, std::mt19937_64& rng) const {
  if (noises_.empty() || samples.empty()) return;
  const auto n = static_cast<int64_t>(samples.size());
  const auto& noise = noises_[static_cast<size_t>(UniformInt(rng, 0, static_cast<int64_t>(noises_.size()) - 1))];
  const auto len = static_cast<int64_t>(noise.samples.size());
  // A long clip gives a stretch that fits; a short one is looped from a random start.
  const int64_t offset = len >= n ? UniformInt(rng, 0, len - n) : UniformInt(rng, 0, len - 1);
  for (int64_t i = 0; i < n; ++i) {
    const float v = samples[i] + volume * noise.samples[static_cast<size_t>((offset + i) % len)];
    samples[i] = std::clamp(v, -1.0f, 1.0f);
  }
}

void Augmenter::ApplyToFeatures(at::Tensor& features, std::mt19937_64& rng) const {
  if (!features.defined() || features.numel() == 0) return;
  CHORUS_CHECK(features.dim() == 2) << "features must be [frames, bins], got " << features.dim() << " dims";
  at::NoGradGuard no_grad;
  const int64_t frames = features.size(0);
  const int64_t bins = features.size(1);
  // One fill value for every mask: the mean before any masking.
  const at::Scalar mean = features.mean().item();
  auto mask = [&](int64_t dim, int64_t extent, int count, int max_width) {
    for (int m = 0; m < count; ++m) {
      const int64_t width = std::min<int64_t>(UniformInt(rng, 0, max_width), extent);
      const int64_t start = UniformInt(rng, 0, extent - width);
      if (width > 0) features.narrow(dim, start, width).fill_(mean);
    }
  };
  mask(0, frames, options_.time_masks, options_.time_mask_max);
  mask(1, bins, options_.freq_masks, options_.freq_mask_max);
}

}  // namespace chorus::audio
