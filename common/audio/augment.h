// Training-time augmentation: random time shift, background-noise mixing (at a
// random volume, or at a random SNR), and SpecAugment time/frequency masks.
//
// Every random choice comes from the std::mt19937_64 passed in, so a caller
// that seeds it from (seed, epoch, example index) gets the same augmentation
// whatever thread runs it; that is what makes resumed training exact.
// An Augmenter is immutable after construction and thread-safe.
#pragma once

#include <random>
#include <vector>

#include <ATen/core/Tensor.h>

#include "common/audio/augment_options.h"
#include "common/audio/waveform.h"
#include "common/util/status.h"

namespace chorus::audio {

class Augmenter {
 public:
  // noises: background noise clips at the model's sample rate (may be empty:
  // then no noise is mixed).
  Augmenter(AugmentOptions options, std::vector<Waveform> noises, int sample_rate);

  // In place on a clip at the model's rate: time shift, then noise.
  void ApplyToWave(std::vector<float>& samples, std::mt19937_64& rng) const;

  // Mixes a random stretch of a random noise clip at `volume` into `samples`
  // (used directly for the silence class). No-op without noise clips.
  void MixNoise(std::vector<float>& samples, float volume, std::mt19937_64& rng) const;

  // In place on features [frames, bins]: masks set to the tensor's mean.
  void ApplyToFeatures(at::Tensor& features, std::mt19937_64& rng) const;

  bool has_noise() const { return !noises_.empty(); }
  const AugmentOptions& options() const { return options_; }

 private:
  AugmentOptions options_;
  std::vector<Waveform> noises_;
  int sample_rate_;
};

}  // namespace chorus::audio
