// ClipSet: the examples of one split decoded into memory as fixed-length
// clips at the model's sample rate (shorter clips centred and zero-padded,
// longer ones centre-cropped). Silence examples (empty path) hold no samples;
// the batch loader fills them with background noise. Decoding runs on
// `threads` threads; the first file that fails stops the load with a Status
// naming it. Immutable after loading, so safe to read from many threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/audio/waveform.h"
#include "common/data/example.h"
#include "common/util/status.h"

namespace chorus::train {

struct ClipSet {
  std::vector<std::vector<float>> clips;  // empty vector: a silence example
  std::vector<int> labels;
  int64_t clip_samples = 0;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

Result<ClipSet> LoadClips(const std::vector<data::Example>& examples, int sample_rate, int64_t clip_samples,
                          int threads);

// Background noise files, resampled to sample_rate (whole files, not clipped).
Result<std::vector<audio::Waveform>> LoadNoise(const std::vector<std::string>& files, int sample_rate);

// Pads (centred) or crops (centred) to exactly `length` samples.
std::vector<float> FitToLength(const std::vector<float>& samples, int64_t length);

}  // namespace chorus::train
