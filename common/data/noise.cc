#include "common/data/noise.h"

#include <algorithm>
#include <cmath>

#include "common/data/data_internal.h"

namespace chorus::data {

using internal::Rng;

void NormalizeRms(std::vector<float>& x, double target_rms) {
  if (x.empty()) return;
  double mean = 0.0;
  for (float s : x) mean += s;
  mean /= static_cast<double>(x.size());
  double energy = 0.0;
  for (float& s : x) {
    s = static_cast<float>(s - mean);
    energy += static_cast<double>(s) * s;
  }
  double rms = std::sqrt(energy / static_cast<double>(x.size()));
  double scale = rms > 0.0 ? target_rms / rms : 0.0;
  for (float& s : x) s = static_cast<float>(std::clamp(s * scale, -0.99, 0.99));
}

namespace {

// Fills `out` (already sized) with one kind of noise, drawing from `rng`.
void FillNoise(NoiseKind kind, int hum_hz, int sample_rate, Rng& rng, std::vector<float>& out) {
  const size_t n = out.size();
  switch (kind) {
    case NoiseKind::kWhite: {
      for (auto& s : out) s = static_cast<float>(rng.Gaussian());
      break;
    }
    case NoiseKind::kPink: {  // Paul Kellet's refined -3 dB/octave filter on white noise
      double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
      for (auto& s : out) {
        double w = rng.Gaussian();
        b0 = 0.99886 * b0 + w * 0.0555179;
        b1 = 0.99332 * b1 + w * 0.0750759;
        b2 = 0.96900 * b2 + w * 0.1538520;
        b3 = 0.86650 * b3 + w * 0.3104856;
        b4 = 0.55000 * b4 + w * 0.5329522;
        b5 = -0.7616 * b5 - w * 0.0168980;
        s = static_cast<float>(b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362);
        b6 = w * 0.115926;
      }
      break;
    }
    case NoiseKind::kBrown: {  // leaky integral of white noise, then a gentle DC blocker
      double b = 0.0, prev_in = 0.0, prev_out = 0.0;
      const double leak = 1.0 - 2.0 * M_PI * 5.0 / sample_rate;  // integrator corner ~5 Hz
      const double hp = 1.0 - 2.0 * M_PI * 2.0 / sample_rate;    // DC blocker ~2 Hz
      for (auto& s : out) {
        b = leak * b + rng.Gaussian();
        double y = b - prev_in + hp * prev_out;
        prev_in = b;
        prev_out = y;
        s = static_cast<float>(y);
      }
      break;
    }
    case NoiseKind::kHum: {  // mains hum with harmonics, a slow wobble and a little hiss
      const double amps[] = {1.0, 0.55, 0.35, 0.22, 0.12, 0.08, 0.05};
      double phases[7];
      for (double& p : phases) p = rng.Uniform(0.0, 2.0 * M_PI);
      const double wobble_hz = rng.Uniform(0.1, 0.5);
      const double hiss = 0.05;
      for (size_t i = 0; i < n; ++i) {
        const double t = static_cast<double>(i) / sample_rate;
        double v = 0.0;
        for (int h = 0; h < 7; ++h) {
          const double f = hum_hz * (h + 1);
          if (f >= sample_rate / 2.0) break;
          v += amps[h] * std::sin(2.0 * M_PI * f * t + phases[h]);
        }
        v *= 1.0 + 0.1 * std::sin(2.0 * M_PI * wobble_hz * t);
        out[i] = static_cast<float>(v + hiss * rng.Gaussian());
      }
      break;
    }
    case NoiseKind::kTones: {  // beeps and whistles: gliding sine tones switching on and off
      std::fill(out.begin(), out.end(), 0.0f);
      const int tones = static_cast<int>(rng.Int(2, 4));
      for (int k = 0; k < tones; ++k) {
        const double f_start = rng.Uniform(200.0, std::min(4000.0, 0.45 * sample_rate));
        const double f_end = f_start * rng.Uniform(0.8, 1.25);
        const double period = rng.Uniform(0.3, 2.0), duty = rng.Uniform(0.3, 1.0), level = rng.Uniform(0.3, 1.0);
        double phase = rng.Uniform(0.0, 2.0 * M_PI);
        for (size_t i = 0; i < n; ++i) {
          const double t = static_cast<double>(i) / sample_rate;
          const double f = f_start + (f_end - f_start) * static_cast<double>(i) / std::max<size_t>(1, n);
          phase += 2.0 * M_PI * f / sample_rate;
          if (std::fmod(t, period) < duty * period) out[i] += static_cast<float>(level * std::sin(phase));
        }
      }
      for (auto& s : out) s += static_cast<float>(0.01 * rng.Gaussian());
      break;
    }
    case NoiseKind::kClicks: {  // keyboard-like clicks: sparse decaying bursts over faint hiss
      for (auto& s : out) s = static_cast<float>(0.02 * rng.Gaussian());
      const double rate = rng.Uniform(2.0, 12.0);  // clicks per second
      size_t at = 0;
      while (true) {
        at += static_cast<size_t>(sample_rate * (-std::log(1.0 - rng.Uniform()) / rate)) + 1;
        if (at >= n) break;
        const double amp = rng.Uniform(0.3, 1.0);
        const double decay = rng.Uniform(0.001, 0.006) * sample_rate;
        for (size_t j = 0; j < static_cast<size_t>(6 * decay) && at + j < n; ++j)
          out[at + j] += static_cast<float>(amp * std::exp(-static_cast<double>(j) / decay) * rng.Gaussian());
      }
      break;
    }
  }
}

}  // namespace

const char* NoiseKindName(NoiseKind kind) {
  switch (kind) {
    case NoiseKind::kWhite: return "white";
    case NoiseKind::kPink: return "pink";
    case NoiseKind::kBrown: return "brown";
    case NoiseKind::kHum: return "hum";
    case NoiseKind::kTones: return "tones";
    case NoiseKind::kClicks: return "clicks";
  }
  return "?";
}

NoiseFile MakeNoise(int index, double seconds, int sample_rate, uint64_t seed) {
  static const char* const kNames[] = {"white_noise", "pink_noise", "brown_noise"};
  const int kind = index % 4;
  const int cycle = index / 4;
  const std::string suffix = cycle == 0 ? "" : "_" + std::to_string(cycle + 1);
  Rng rng(internal::MixSeed(internal::MixSeed(seed, 0x6e6f697365ULL), static_cast<uint64_t>(index)));  // "noise"
  NoiseFile out;
  out.samples.resize(static_cast<size_t>(std::llround(seconds * sample_rate)));
  const int hum_hz = cycle % 2 == 0 ? 50 : 60;
  out.name = kind < 3 ? std::string(kNames[kind]) + suffix + ".wav" : "hum_" + std::to_string(hum_hz) + "hz" + suffix + ".wav";
  FillNoise(static_cast<NoiseKind>(kind), hum_hz, sample_rate, rng, out.samples);
  NormalizeRms(out.samples, rng.Uniform(0.06, 0.12));
  return out;
}

std::vector<float> MakeNoiseOfKind(NoiseKind kind, double seconds, int sample_rate, uint64_t seed) {
  Rng rng(internal::MixSeed(seed, 0x6b696e64ULL));  // "kind"
  std::vector<float> out(static_cast<size_t>(std::max<long long>(0, std::llround(seconds * sample_rate))));
  const int hum_hz = rng.Uniform() < 0.5 ? 50 : 60;
  FillNoise(kind, hum_hz, sample_rate, rng, out);
  NormalizeRms(out, 0.1);
  return out;
}

}  // namespace chorus::data
