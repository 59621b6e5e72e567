#include "common/audio/waveform.h"

#include <algorithm>

namespace chorus::audio {

std::vector<float> FitToLength(const std::vector<float>& samples, int64_t length) {
  const int64_t n = static_cast<int64_t>(samples.size());
  std::vector<float> out(length, 0.0f);
  if (n >= length) {
    const int64_t start = (n - length) / 2;
    std::copy(samples.begin() + start, samples.begin() + start + length, out.begin());
  } else {
    const int64_t offset = (length - n) / 2;
    std::copy(samples.begin(), samples.end(), out.begin() + offset);
  }
  return out;
}

}  // namespace chorus::audio
