// Sample-rate conversion with soxr (high quality). Thread-safe.
#pragma once

#include <vector>

#include "common/util/status.h"

namespace chorus::audio {

// Returns `in` unchanged when from == to. Fails with InvalidArgument on a rate
// outside [kMinSampleRate, kMaxSampleRate].
Result<std::vector<float>> Resample(const std::vector<float>& in, int from_rate, int to_rate);

}  // namespace chorus::audio
