#include "common/audio/resample.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "common/audio/wav_io.h"
#include "tests/common/audio/audio_test_util.h"

namespace chorus::audio {
namespace {

using ::testing::HasSubstr;

// Frequency (Hz) of the largest FFT bin of `x` at `rate`, Hann-windowed.
double DominantFrequency(const std::vector<float>& x, int rate) {
  auto t = torch::from_blob(const_cast<float*>(x.data()), {static_cast<int64_t>(x.size())}, torch::kFloat).clone();
  t = t * torch::hann_window(t.size(0), /*periodic=*/true, torch::kFloat);
  auto power = torch::fft::rfft(t).abs();
  const int64_t bin = power.argmax().item<int64_t>();
  return static_cast<double>(bin) * rate / static_cast<double>(x.size());
}

double Rms(const std::vector<float>& x, size_t begin, size_t end) {
  double s = 0.0;
  for (size_t i = begin; i < end; ++i) s += static_cast<double>(x[i]) * x[i];
  return std::sqrt(s / static_cast<double>(end - begin));
}

TEST(Resample, UpsamplesPreservingLengthAndFrequency) {
  const auto in = testing::Sine(440.0, 0.5, 8000, 8000);
  ASSERT_NEAR(DominantFrequency(in, 8000), 440.0, 1.0);
  auto out = Resample(in, 8000, 16000);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->size(), 16000u);
  EXPECT_NEAR(DominantFrequency(*out, 16000), 440.0, 1.0);
  // Amplitude is kept away from the edges (sine RMS = 0.5 / sqrt(2)).
  EXPECT_NEAR(Rms(*out, 2000, 14000), 0.5 / std::sqrt(2.0), 0.005);
}

TEST(Resample, DownsamplesAndRemovesContentAboveNewNyquist) {
  // 1 kHz (kept) + 6 kHz (above the 4 kHz Nyquist of the output).
  auto in = testing::Sine(1000.0, 0.3, 16000, 16000);
  const auto high = testing::Sine(6000.0, 0.3, 16000, 16000);
  for (size_t i = 0; i < in.size(); ++i) in[i] += high[i];
  auto out = Resample(in, 16000, 8000);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->size(), 8000u);
  EXPECT_NEAR(DominantFrequency(*out, 8000), 1000.0, 1.0);
  // Only the 1 kHz tone survives: RMS of one 0.3 sine.
  EXPECT_NEAR(Rms(*out, 1000, 7000), 0.3 / std::sqrt(2.0), 0.005);
}

TEST(Resample, NonIntegerRatioLength) {
  const auto in = testing::Sine(440.0, 0.5, 44100, 44100 / 2);
  auto out = Resample(in, 44100, 16000);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->size(), 8000u);
  EXPECT_NEAR(DominantFrequency(*out, 16000), 440.0, 2.0);
}

TEST(Resample, SameRateIsIdentity) {
  const auto in = testing::Sine(440.0, 0.5, 16000, 100);
  auto out = Resample(in, 16000, 16000);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, in);
}

TEST(Resample, RejectsAbsurdRates) {
  const auto in = testing::Sine(440.0, 0.5, 16000, 100);
  for (auto [from, to] : {std::pair{16000, 0}, std::pair{0, 16000}, std::pair{16000, 999},
                          std::pair{16000, kMaxSampleRate + 1}, std::pair{-8000, 16000}}) {
    auto out = Resample(in, from, to);
    ASSERT_FALSE(out.ok()) << from << " -> " << to;
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(out.status().message(), HasSubstr("sample rate"));
  }
}

}  // namespace
}  // namespace chorus::audio
