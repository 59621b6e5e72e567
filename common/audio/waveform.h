// Waveform: mono float samples in [-1, 1] at a known sample rate. The one
// in-memory audio type every part of Chorus passes around. A plain value type.
#pragma once

#include <cstdint>
#include <vector>

namespace chorus::audio {

struct Waveform {
  std::vector<float> samples;
  int sample_rate = 0;

  double seconds() const { return sample_rate > 0 ? static_cast<double>(samples.size()) / sample_rate : 0.0; }
};

// Pads (centred, with zeros) or crops (centred) to exactly `length` samples:
// how training fits clips, and so how serving must.
std::vector<float> FitToLength(const std::vector<float>& samples, int64_t length);

}  // namespace chorus::audio
