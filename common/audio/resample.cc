#include "common/audio/resample.h"

#include <soxr.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "common/audio/wav_io.h"

namespace chorus::audio {

Result<std::vector<float>> Resample(const std::vector<float>& in, int from_rate, int to_rate) {
  for (int rate : {from_rate, to_rate}) {
    if (rate < kMinSampleRate || rate > kMaxSampleRate) {
      return InvalidArgument("resample " + std::to_string(from_rate) + " -> " + std::to_string(to_rate) +
                             " Hz: absurd sample rate " + std::to_string(rate) + " Hz (allowed [" +
                             std::to_string(kMinSampleRate) + ", " + std::to_string(kMaxSampleRate) + "] Hz)");
    }
  }
  if (from_rate == to_rate || in.empty()) return in;

  // soxr_oneshot flushes the filter, so it yields round(n * to / from) samples;
  // the spare room only guards against an off-by-one in that rounding.
  const double ratio = static_cast<double>(to_rate) / from_rate;
  const auto expected = static_cast<size_t>(std::llround(static_cast<double>(in.size()) * ratio));
  std::vector<float> out(expected + 16);
  size_t done = 0;
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  soxr_error_t err = soxr_oneshot(from_rate, to_rate, 1, in.data(), in.size(), nullptr, out.data(), out.size(), &done,
                                  &io, &quality, nullptr);
  if (err != nullptr) {
    return Internal("resample " + std::to_string(from_rate) + " -> " + std::to_string(to_rate) +
                    " Hz: soxr failed: " + err);
  }
  out.resize(std::min(done, expected));
  return out;
}

}  // namespace chorus::audio
