// Generated background noises: white, pink, brown, mains hum with harmonics
// (used as the speech-commands set's _background_noise_ files), and, for
// voice-activity data, tone clusters and clicks. Deterministic for a seed.
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chorus::data {

// Removes the mean, scales to `target_rms`, clips to [-0.99, 0.99].
void NormalizeRms(std::vector<float>& x, double target_rms);

struct NoiseFile {
  std::string name;  // e.g. pink_noise_2.wav
  std::vector<float> samples;
};

// Noise file `index` of a set: kinds cycle white, pink, brown, hum (50 or 60 Hz).
NoiseFile MakeNoise(int index, double seconds, int sample_rate, uint64_t seed);

enum class NoiseKind { kWhite, kPink, kBrown, kHum, kTones, kClicks };
inline constexpr int kNumNoiseKinds = 6;
const char* NoiseKindName(NoiseKind kind);

// `seconds` of one kind at unit-ish level (normalised to RMS 0.1).
std::vector<float> MakeNoiseOfKind(NoiseKind kind, double seconds, int sample_rate, uint64_t seed);

}  // namespace chorus::data
