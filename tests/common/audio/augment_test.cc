#include "common/audio/augment.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <vector>

#include "tests/common/audio/audio_test_util.h"

namespace chorus::audio {
namespace {

using ::testing::HasSubstr;

constexpr int kRate = 16000;

std::vector<float> WhiteNoise(size_t n, uint64_t seed, float amplitude) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-amplitude, amplitude);
  std::vector<float> out(n);
  for (auto& v : out) v = dist(rng);
  return out;
}

AugmentOptions NoAugmentation() {
  AugmentOptions o;
  o.time_shift_ms = 0.0;
  o.noise_probability = 0.0;
  o.time_masks = 0;
  o.freq_masks = 0;
  return o;
}

double Power(const std::vector<float>& x) {
  double s = 0.0;
  for (float v : x) s += static_cast<double>(v) * v;
  return s / static_cast<double>(x.size());
}

TEST(Augment, ValidatesOptions) {
  EXPECT_TRUE(ValidateAugmentOptions(AugmentOptions{}).ok());
  AugmentOptions o;
  o.noise_probability = 1.5;
  EXPECT_THAT(ValidateAugmentOptions(o).message(), HasSubstr("noise_probability"));
  o = AugmentOptions{};
  o.snr_db_min = 30;
  EXPECT_THAT(ValidateAugmentOptions(o).message(), HasSubstr("snr_db_min"));
  o = AugmentOptions{};
  o.time_shift_ms = -1;
  EXPECT_THAT(ValidateAugmentOptions(o).message(), HasSubstr("time_shift_ms"));
  o = AugmentOptions{};
  o.freq_mask_max = -2;
  EXPECT_THAT(ValidateAugmentOptions(o).message(), HasSubstr("freq_mask_max"));
  o = AugmentOptions{};
  o.noise_volume_max = std::nan("");
  EXPECT_THAT(ValidateAugmentOptions(o).message(), HasSubstr("noise_volume_max"));
}

TEST(Augment, SameSeedSameOutputDifferentSeedDifferent) {
  AugmentOptions o;  // defaults: shift, noise, masks all on
  o.noise_probability = 1.0;
  Augmenter aug(o, {Waveform{WhiteNoise(3 * kRate, 7, 0.5f), kRate}, Waveform{WhiteNoise(kRate / 3, 8, 0.5f), kRate}},
                kRate);
  const auto clean = testing::Sine(440.0, 0.3, kRate, kRate);
  const at::Tensor feats = torch::randn({98, 40}, torch::TensorOptions().dtype(torch::kFloat));

  auto run = [&](uint64_t seed) {
    std::mt19937_64 rng(seed);
    auto wave = clean;
    aug.ApplyToWave(wave, rng);
    at::Tensor f = feats.clone();
    aug.ApplyToFeatures(f, rng);
    return std::make_pair(wave, f);
  };
  const auto a = run(1234);
  const auto b = run(1234);
  const auto c = run(1235);
  EXPECT_EQ(a.first, b.first);
  EXPECT_TRUE(torch::equal(a.second, b.second));
  EXPECT_NE(a.first, c.first);
  EXPECT_FALSE(torch::equal(a.second, c.second));
  EXPECT_NE(a.first, clean);
}

TEST(Augment, TimeShiftMovesContentAndZeroFills) {
  AugmentOptions o = NoAugmentation();
  o.time_shift_ms = 100.0;  // up to 1600 samples
  Augmenter aug(o, {}, kRate);
  std::vector<float> ramp(kRate);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = 0.1f + 0.8f * static_cast<float>(i) / kRate;  // never 0

  int moved = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    auto wave = ramp;
    aug.ApplyToWave(wave, rng);
    ASSERT_EQ(wave.size(), ramp.size());
    // Recover the shift from the zero-filled edge.
    int64_t shift = 0;
    if (wave.front() == 0.0f) {
      while (shift < static_cast<int64_t>(wave.size()) && wave[shift] == 0.0f) ++shift;
    } else if (wave.back() == 0.0f) {
      while (-shift < static_cast<int64_t>(wave.size()) && wave[wave.size() - 1 + shift] == 0.0f) --shift;
    }
    EXPECT_LE(std::abs(shift), 1600);
    for (int64_t i = 0; i < static_cast<int64_t>(wave.size()); ++i) {
      const int64_t src = i - shift;
      const float expected = (src >= 0 && src < static_cast<int64_t>(ramp.size())) ? ramp[src] : 0.0f;
      ASSERT_EQ(wave[i], expected) << "seed " << seed << " shift " << shift << " index " << i;
    }
    if (shift != 0) ++moved;
  }
  EXPECT_GE(moved, 15);
}

TEST(Augment, VolumeModeAddsScaledNoise) {
  AugmentOptions o = NoAugmentation();
  o.noise_probability = 1.0;
  o.noise_volume_max = 0.2;
  // A constant noise clip makes the added volume directly visible.
  Augmenter aug(o, {Waveform{std::vector<float>(2 * kRate, 1.0f), kRate}}, kRate);
  const auto clean = testing::Sine(300.0, 0.2, kRate, kRate);
  std::vector<double> volumes;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::mt19937_64 rng(seed);
    auto wave = clean;
    aug.ApplyToWave(wave, rng);
    const double volume = wave[0] - clean[0];
    for (size_t i = 0; i < wave.size(); ++i) ASSERT_NEAR(wave[i] - clean[i], volume, 1e-6);
    EXPECT_GE(volume, 0.0);
    EXPECT_LE(volume, 0.2 + 1e-6);
    volumes.push_back(volume);
  }
  // Spread over the range rather than stuck at one value.
  EXPECT_LT(*std::min_element(volumes.begin(), volumes.end()), 0.05);
  EXPECT_GT(*std::max_element(volumes.begin(), volumes.end()), 0.15);
}

TEST(Augment, NoiseProbabilityIsHonoured) {
  AugmentOptions o = NoAugmentation();
  o.noise_probability = 0.3;
  o.noise_volume_max = 0.2;
  Augmenter aug(o, {Waveform{WhiteNoise(kRate, 3, 0.5f), kRate}}, kRate);
  const std::vector<float> clean(1600, 0.0f);
  int noisy = 0;
  for (uint64_t seed = 0; seed < 1000; ++seed) {
    std::mt19937_64 rng(seed);
    auto wave = clean;
    aug.ApplyToWave(wave, rng);
    if (wave != clean) ++noisy;
  }
  EXPECT_NEAR(noisy / 1000.0, 0.3, 0.05);
}

TEST(Augment, SnrModeHitsRequestedSnr) {
  for (double snr : {0.0, 7.5, 20.0}) {
    AugmentOptions o = NoAugmentation();
    o.noise_probability = 1.0;
    o.use_snr = true;
    o.snr_db_min = snr;
    o.snr_db_max = snr;
    Augmenter aug(o, {Waveform{WhiteNoise(5 * kRate, 11, 0.5f), kRate}, Waveform{WhiteNoise(kRate / 4, 12, 0.1f), kRate}},
                  kRate);
    const auto clean = testing::Sine(440.0, 0.1, kRate, kRate);
    for (uint64_t seed = 0; seed < 10; ++seed) {
      std::mt19937_64 rng(seed);
      auto wave = clean;
      aug.ApplyToWave(wave, rng);
      std::vector<float> added(wave.size());
      for (size_t i = 0; i < wave.size(); ++i) added[i] = wave[i] - clean[i];
      const double measured = 10.0 * std::log10(Power(clean) / Power(added));
      EXPECT_NEAR(measured, snr, 0.1) << "seed " << seed;
    }
  }
}

TEST(Augment, SnrModeDrawsWithinRange) {
  AugmentOptions o = NoAugmentation();
  o.noise_probability = 1.0;
  o.use_snr = true;
  o.snr_db_min = 5.0;
  o.snr_db_max = 20.0;
  Augmenter aug(o, {Waveform{WhiteNoise(5 * kRate, 11, 0.5f), kRate}}, kRate);
  const auto clean = testing::Sine(440.0, 0.1, kRate, kRate);
  double lo = 100.0, hi = -100.0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    std::mt19937_64 rng(seed);
    auto wave = clean;
    aug.ApplyToWave(wave, rng);
    std::vector<float> added(wave.size());
    for (size_t i = 0; i < wave.size(); ++i) added[i] = wave[i] - clean[i];
    const double measured = 10.0 * std::log10(Power(clean) / Power(added));
    EXPECT_GE(measured, 5.0 - 0.1);
    EXPECT_LE(measured, 20.0 + 0.1);
    lo = std::min(lo, measured);
    hi = std::max(hi, measured);
  }
  EXPECT_LT(lo, 8.0);
  EXPECT_GT(hi, 17.0);
}

TEST(Augment, SnrModeOnSilenceFallsBackToVolume) {
  AugmentOptions o = NoAugmentation();
  o.noise_probability = 1.0;
  o.use_snr = true;
  o.noise_volume_max = 0.05;
  Augmenter aug(o, {Waveform{std::vector<float>(kRate, 1.0f), kRate}}, kRate);
  int nonzero = 0;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<float> silence(1600, 0.0f);
    aug.ApplyToWave(silence, rng);
    for (float v : silence) {
      ASSERT_GE(v, 0.0f);
      ASSERT_LE(v, 0.05f + 1e-7f);
    }
    if (silence[0] > 0.0f) ++nonzero;
  }
  EXPECT_GE(nonzero, 18);
}

TEST(Augment, MixNoiseWrapsShortNoise) {
  // A 100-sample ramp noise clip mixed into a 1000-sample silent clip must repeat
  // with period 100 from some random starting phase.
  std::vector<float> ramp(100);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<float>(i + 1) / 200.0f;
  Augmenter aug(NoAugmentation(), {Waveform{ramp, kRate}}, kRate);
  std::set<float> starts;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<float> clip(1000, 0.0f);
    aug.MixNoise(clip, 0.5f, rng);
    const int offset = static_cast<int>(std::lround(clip[0] / 0.5f * 200.0f)) - 1;
    ASSERT_GE(offset, 0);
    ASSERT_LT(offset, 100);
    for (size_t i = 0; i < clip.size(); ++i) ASSERT_FLOAT_EQ(clip[i], 0.5f * ramp[(offset + i) % 100]) << i;
    starts.insert(clip[0]);
  }
  EXPECT_GT(starts.size(), 5u);
}

TEST(Augment, MixNoiseTakesAStretchOfLongNoise) {
  std::vector<float> ramp(5000);
  for (size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<float>(i) / 5000.0f;
  Augmenter aug(NoAugmentation(), {Waveform{ramp, kRate}}, kRate);
  std::mt19937_64 rng(3);
  std::vector<float> clip(1000, 0.0f);
  aug.MixNoise(clip, 1.0f, rng);
  const auto offset = static_cast<size_t>(std::lround(clip[0] * 5000.0f));
  ASSERT_LE(offset + clip.size(), ramp.size());  // no wrap needed, none taken
  for (size_t i = 0; i < clip.size(); ++i) ASSERT_FLOAT_EQ(clip[i], ramp[offset + i]);
}

TEST(Augment, MixNoiseWithoutNoiseIsNoOp) {
  Augmenter aug(AugmentOptions{}, {}, kRate);
  EXPECT_FALSE(aug.has_noise());
  std::mt19937_64 rng(1);
  auto clip = testing::Sine(440.0, 0.3, kRate, 1600);
  const auto before = clip;
  aug.MixNoise(clip, 0.5f, rng);
  EXPECT_EQ(clip, before);
}

TEST(Augment, TimeMasksSetFramesToMean) {
  AugmentOptions o = NoAugmentation();
  o.time_masks = 1;
  o.time_mask_max = 20;
  Augmenter aug(o, {}, kRate);
  const at::Tensor original = torch::randn({100, 40}) * 3.0 + 1.0;
  const float mean = original.mean().item<float>();
  int masked_total = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    std::mt19937_64 rng(seed);
    at::Tensor f = original.clone();
    aug.ApplyToFeatures(f, rng);
    int masked = 0;
    for (int64_t t = 0; t < 100; ++t) {
      if (torch::equal(f[t], original[t])) continue;
      EXPECT_TRUE(torch::all(f[t] == mean).item<bool>()) << "frame " << t << " changed but is not the mean";
      ++masked;
    }
    EXPECT_LE(masked, 20);
    masked_total += masked;
  }
  EXPECT_GT(masked_total, 30);
}

TEST(Augment, FreqMasksSetBinsToMean) {
  AugmentOptions o = NoAugmentation();
  o.freq_masks = 2;
  o.freq_mask_max = 5;
  Augmenter aug(o, {}, kRate);
  const at::Tensor original = torch::randn({50, 40}) - 4.0;
  const float mean = original.mean().item<float>();
  int masked_total = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    std::mt19937_64 rng(seed);
    at::Tensor f = original.clone();
    aug.ApplyToFeatures(f, rng);
    int masked = 0;
    for (int64_t b = 0; b < 40; ++b) {
      const auto col = f.select(1, b);
      if (torch::equal(col, original.select(1, b))) continue;
      EXPECT_TRUE(torch::all(col == mean).item<bool>()) << "bin " << b;
      ++masked;
    }
    EXPECT_LE(masked, 10);
    masked_total += masked;
  }
  EXPECT_GT(masked_total, 10);
}

TEST(Augment, MaskWiderThanTensorIsClamped) {
  AugmentOptions o = NoAugmentation();
  o.time_masks = 3;
  o.time_mask_max = 500;
  o.freq_masks = 3;
  o.freq_mask_max = 500;
  Augmenter aug(o, {}, kRate);
  at::Tensor f = torch::randn({4, 3});
  const float mean = f.mean().item<float>();
  std::mt19937_64 rng(9);
  aug.ApplyToFeatures(f, rng);  // must not throw or write out of bounds
  EXPECT_TRUE(torch::isfinite(f).all().item<bool>());
  EXPECT_GT((f == mean).sum().item<int64_t>(), 0);
}

}  // namespace
}  // namespace chorus::audio
