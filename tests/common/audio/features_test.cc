#include "common/audio/features.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/audio/wav_io.h"
#include "tests/common/audio/audio_test_util.h"

namespace chorus::audio {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

FeatureExtractor MakeExtractor(const FeatureOptions& options) {
  auto fe = FeatureExtractor::Create(options);
  EXPECT_TRUE(fe.ok()) << fe.status().ToString();
  return std::move(fe).value();
}

FeatureOptions Options(FeatureKind kind, int n_mels = 40) {
  FeatureOptions o;
  o.kind = kind;
  o.n_mels = n_mels;
  return o;
}

// ---------------------------------------------------------------------------
// Shapes, framing, errors.

TEST(Features, ShapesFollowSnipEdgesFraming) {
  const auto wave = testing::ChirpPlusNoise(16000, 1.0, 100, 7000, 1);
  for (FeatureKind kind : {FeatureKind::kLogMel, FeatureKind::kMfcc, FeatureKind::kKaldiFbank}) {
    auto fe = MakeExtractor(Options(kind));
    auto feats = fe.Compute(wave);
    ASSERT_TRUE(feats.ok()) << feats.status().ToString();
    // 1 + (16000 - 400) / 160 = 98 frames.
    EXPECT_EQ(feats->size(0), 98) << FeatureKindName(kind);
    EXPECT_EQ(feats->size(1), kind == FeatureKind::kMfcc ? 13 : 40);
    EXPECT_EQ(feats->scalar_type(), torch::kFloat);
    EXPECT_EQ(fe.NumFrames(16000), 98);
    EXPECT_EQ(fe.NumBins(), kind == FeatureKind::kMfcc ? 13 : 40);
    EXPECT_TRUE(torch::isfinite(*feats).all().item<bool>());
  }
}

TEST(Features, NumFramesCountsWholeWindows) {
  auto fe = MakeExtractor(Options(FeatureKind::kLogMel));
  EXPECT_EQ(fe.NumFrames(0), 0);
  EXPECT_EQ(fe.NumFrames(399), 0);
  EXPECT_EQ(fe.NumFrames(400), 1);
  EXPECT_EQ(fe.NumFrames(559), 1);
  EXPECT_EQ(fe.NumFrames(560), 2);
  const std::vector<float> one_window(400, 0.1f);
  auto feats = fe.Compute(one_window);
  ASSERT_TRUE(feats.ok());
  EXPECT_EQ(feats->size(0), 1);
}

TEST(Features, RejectsInputShorterThanOneWindow) {
  for (FeatureKind kind : {FeatureKind::kLogMel, FeatureKind::kMfcc, FeatureKind::kKaldiFbank}) {
    auto fe = MakeExtractor(Options(kind));
    const std::vector<float> short_clip(399, 0.1f);
    auto feats = fe.Compute(short_clip);
    ASSERT_FALSE(feats.ok());
    EXPECT_EQ(feats.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(feats.status().message(), HasSubstr("shorter than one window"));
    EXPECT_FALSE(fe.Compute(std::vector<float>{}).ok());
  }
}

TEST(Features, SilenceHitsTheLogFloor) {
  const std::vector<float> silence(4000, 0.0f);
  auto kaldi = MakeExtractor(Options(FeatureKind::kKaldiFbank)).Compute(silence);
  ASSERT_TRUE(kaldi.ok());
  EXPECT_TRUE(torch::allclose(*kaldi, torch::full_like(*kaldi, std::log(std::numeric_limits<float>::epsilon()))));
  auto log_mel = MakeExtractor(Options(FeatureKind::kLogMel)).Compute(silence);
  ASSERT_TRUE(log_mel.ok());
  EXPECT_TRUE(torch::allclose(*log_mel, torch::full_like(*log_mel, std::log(1e-6))));
}

// Index of the mel band whose triangle weighs `freq` most, computed here from
// the textbook definitions (HTK 2595 log10(1 + f/700), Kaldi 1127 ln(1 + f/700)).
int64_t BandContaining(double freq, bool kaldi, int n_mels, double f_min, double f_max) {
  auto mel = [&](double f) { return kaldi ? 1127.0 * std::log(1.0 + f / 700.0) : 2595.0 * std::log10(1.0 + f / 700.0); };
  const double lo = mel(f_min);
  const double hi = mel(f_max);
  const double m = mel(freq);
  int64_t best = -1;
  double best_weight = 0.0;
  for (int b = 0; b < n_mels; ++b) {
    const double left = lo + (hi - lo) * b / (n_mels + 1);
    const double centre = lo + (hi - lo) * (b + 1) / (n_mels + 1);
    const double right = lo + (hi - lo) * (b + 2) / (n_mels + 1);
    const double w = std::min((m - left) / (centre - left), (right - m) / (right - centre));
    if (w > best_weight) {
      best_weight = w;
      best = b;
    }
  }
  return best;
}

TEST(Features, OneKilohertzSinePeaksInItsMelBand) {
  const auto sine = testing::Sine(1000.0, 0.5, 16000, 16000);
  for (FeatureKind kind : {FeatureKind::kLogMel, FeatureKind::kKaldiFbank}) {
    const bool kaldi = kind == FeatureKind::kKaldiFbank;
    auto fe = MakeExtractor(Options(kind));
    auto feats = fe.Compute(sine);
    ASSERT_TRUE(feats.ok());
    const auto mean = feats->mean(0);
    const int64_t peak = mean.argmax().item<int64_t>();
    const int64_t expected = BandContaining(1000.0, kaldi, 40, 20.0, 8000.0);
    ASSERT_GE(expected, 0);
    EXPECT_EQ(peak, expected) << FeatureKindName(kind);
    // And it stands well clear of bands far from 1 kHz (log power: > 20 dB = 4.6 nepers).
    EXPECT_GT(mean[peak].item<float>() - mean[expected + 5].item<float>(), 4.6f);
    EXPECT_GT(mean[peak].item<float>() - mean[expected - 5].item<float>(), 4.6f);
  }
}

TEST(Features, MfccIsOrthonormalDctOfLogMel) {
  const auto wave = testing::ChirpPlusNoise(16000, 0.5, 200, 6000, 2);
  auto log_mel = MakeExtractor(Options(FeatureKind::kLogMel)).Compute(wave);
  FeatureOptions full = Options(FeatureKind::kMfcc);
  full.n_mfcc = 40;
  auto mfcc_full = MakeExtractor(full).Compute(wave);
  auto mfcc13 = MakeExtractor(Options(FeatureKind::kMfcc)).Compute(wave);
  ASSERT_TRUE(log_mel.ok() && mfcc_full.ok() && mfcc13.ok());
  // Orthonormal: every frame keeps its Euclidean norm.
  EXPECT_TRUE(torch::allclose(mfcc_full->norm(2, 1), log_mel->norm(2, 1), 1e-4, 1e-4));
  // c0 = sum / sqrt(N); c1 = sqrt(2/N) sum cos(pi/N (n + 1/2)).
  EXPECT_TRUE(torch::allclose(mfcc_full->select(1, 0), log_mel->sum(1) / std::sqrt(40.0), 1e-4, 1e-4));
  auto n = torch::arange(40, torch::kDouble);
  auto c1 = (log_mel->to(torch::kDouble) * torch::cos(M_PI / 40.0 * (n + 0.5))).sum(1) * std::sqrt(2.0 / 40.0);
  EXPECT_TRUE(torch::allclose(mfcc_full->select(1, 1).to(torch::kDouble), c1, 1e-4, 1e-4));
  // The first n_mfcc coefficients are kept.
  EXPECT_TRUE(torch::allclose(*mfcc13, mfcc_full->narrow(1, 0, 13), 1e-5, 1e-5));
}

TEST(Features, ComputeIsDeterministicAcrossThreads) {
  const auto wave = testing::ChirpPlusNoise(16000, 1.0, 100, 7000, 5);
  auto fe = MakeExtractor(Options(FeatureKind::kKaldiFbank));
  const at::Tensor reference = fe.Compute(wave).value();
  std::vector<at::Tensor> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] { results[t] = fe.Compute(wave).value(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(torch::equal(r, reference));
}

TEST(Features, SameResultWithAnyIntraOpThreadCount) {
  // 3 s: several blocks of frames, which run in parallel with more threads.
  const auto wave = testing::ChirpPlusNoise(16000, 3.0, 100, 7000, 6);
  const int saved = torch::get_num_threads();
  for (FeatureKind kind : {FeatureKind::kLogMel, FeatureKind::kMfcc, FeatureKind::kKaldiFbank}) {
    auto fe = MakeExtractor(Options(kind));
    torch::set_num_threads(1);
    const at::Tensor one = fe.Compute(wave).value();
    torch::set_num_threads(3);
    const at::Tensor three = fe.Compute(wave).value();
    EXPECT_TRUE(torch::equal(one, three)) << FeatureKindName(kind);
    EXPECT_EQ(one.size(0), fe.NumFrames(static_cast<int64_t>(wave.size())));
  }
  torch::set_num_threads(saved);
}

// ---------------------------------------------------------------------------
// Options.

TEST(FeatureOptions, ParsesKindNames) {
  for (FeatureKind kind : {FeatureKind::kLogMel, FeatureKind::kMfcc, FeatureKind::kKaldiFbank}) {
    auto parsed = ParseFeatureKind(FeatureKindName(kind));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, kind);
  }
  auto bad = ParseFeatureKind("spectrogram");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("spectrogram"));
}

TEST(FeatureOptions, JsonRoundTrip) {
  FeatureOptions o;
  o.kind = FeatureKind::kMfcc;
  o.sample_rate = 8000;
  o.window_ms = 30.0;
  o.hop_ms = 12.5;
  o.n_fft = 512;
  o.n_mels = 32;
  o.f_min = 60.0;
  o.f_max = 3800.0;
  o.n_mfcc = 20;
  o.normalize = "mean_var";
  const nlohmann::json j = FeatureOptionsToJson(o);
  EXPECT_EQ(j.at("kind"), "mfcc");
  EXPECT_EQ(j.size(), 10u);
  auto back = FeatureOptionsFromJson(j);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->kind, o.kind);
  EXPECT_EQ(back->sample_rate, o.sample_rate);
  EXPECT_EQ(back->normalize, "mean_var");
  EXPECT_EQ(back->window_ms, o.window_ms);
  EXPECT_EQ(back->hop_ms, o.hop_ms);
  EXPECT_EQ(back->n_fft, o.n_fft);
  EXPECT_EQ(back->n_mels, o.n_mels);
  EXPECT_EQ(back->f_min, o.f_min);
  EXPECT_EQ(back->f_max, o.f_max);
  EXPECT_EQ(back->n_mfcc, o.n_mfcc);
  // Missing keys keep their defaults.
  auto partial = FeatureOptionsFromJson(nlohmann::json{{"kind", "kaldi_fbank"}});
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->kind, FeatureKind::kKaldiFbank);
  EXPECT_EQ(partial->n_mels, 40);
}

TEST(FeatureOptions, FromJsonNamesTheBadKey) {
  struct Case {
    nlohmann::json json;
    std::string mention;
  };
  const std::vector<Case> cases = {
      {nlohmann::json{{"n_mel", 40}}, "n_mel"},
      {nlohmann::json{{"n_mels", "forty"}}, "n_mels"},
      {nlohmann::json{{"n_mels", 40.5}}, "n_mels"},
      {nlohmann::json{{"n_mels", 0}}, "n_mels"},
      {nlohmann::json{{"kind", "cqt"}}, "kind"},
      {nlohmann::json{{"kind", 3}}, "kind"},
      {nlohmann::json{{"sample_rate", 5}}, "sample_rate"},
      {nlohmann::json{{"window_ms", -25}}, "window_ms"},
      {nlohmann::json{{"hop_ms", "10"}}, "hop_ms"},
      {nlohmann::json{{"f_min", 9000}}, "f_min"},
      {nlohmann::json{{"f_max", 9000}}, "f_max"},
      {nlohmann::json{{"n_fft", 128}}, "n_fft"},
      {nlohmann::json{{"kind", "mfcc"}, {"n_mfcc", 41}}, "n_mfcc"},
      {nlohmann::json::array({1, 2}), "object"},
  };
  for (const auto& c : cases) {
    auto r = FeatureOptionsFromJson(c.json);
    ASSERT_FALSE(r.ok()) << c.json.dump();
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(c.mention)) << c.json.dump();
  }
}

TEST(FeatureOptions, ValidationMessages) {
  FeatureOptions o;
  EXPECT_TRUE(ValidateFeatureOptions(o).ok());
  o.f_min = 500;
  o.f_max = 400;
  EXPECT_THAT(ValidateFeatureOptions(o).message(), HasSubstr("f_min 500 must be below f_max"));
  o = FeatureOptions{};
  o.f_max = -100;  // an offset from Nyquist only for Kaldi
  EXPECT_FALSE(ValidateFeatureOptions(o).ok());
  o.kind = FeatureKind::kKaldiFbank;
  EXPECT_TRUE(ValidateFeatureOptions(o).ok());
  o.n_mels = 3;  // Kaldi needs at least 4
  EXPECT_THAT(ValidateFeatureOptions(o).message(), HasSubstr("n_mels 3"));
  o = FeatureOptions{};
  o.kind = FeatureKind::kKaldiFbank;
  o.n_fft = 1024;  // Kaldi pads to exactly the next power of two (512 here)
  EXPECT_THAT(ValidateFeatureOptions(o).message(), HasSubstr("512"));
  o = FeatureOptions{};
  o.hop_ms = 0.01;  // 0.16 samples
  EXPECT_THAT(ValidateFeatureOptions(o).message(), HasSubstr("hop_ms"));
  o = FeatureOptions{};
  o.window_ms = std::nan("");
  EXPECT_THAT(ValidateFeatureOptions(o).message(), HasSubstr("window_ms"));
  EXPECT_FALSE(FeatureExtractor::Create(o).ok());
}

// ---------------------------------------------------------------------------
// Kaldi parity with torchaudio.compliance.kaldi.fbank.

std::string ReferenceScript() {
  const char* source = std::getenv("CHORUS_SOURCE_DIR");
  if (source != nullptr && *source != '\0') {
    return std::string(source) + "/tests/common/audio/kaldi_fbank_reference.py";
  }
  // Run outside ctest: the script sits beside this file.
  const std::string here = __FILE__;
  return here.substr(0, here.find_last_of('/') + 1) + "kaldi_fbank_reference.py";
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct ParityCase {
  std::string name;
  int sample_rate;
  double seconds;
  double silence_seconds;  // leading digital silence (exercises the log floor)
  double window_ms;
  double hop_ms;
  int n_mels;
  double f_min;
  double f_max;
};

// Names the case in test listings instead of dumping its bytes.
void PrintTo(const ParityCase& c, std::ostream* os) { *os << c.name; }

class KaldiParity : public ::testing::TestWithParam<ParityCase> {};

TEST_P(KaldiParity, MatchesTorchaudio) {
  const ParityCase& c = GetParam();
  TempDir dir;
  // Chirp + noise through the 16-bit file both sides read: torchaudio gets the
  // same float values in [-1, 1] that ReadAudio gives Chorus.
  std::vector<float> samples(static_cast<size_t>(std::llround(c.silence_seconds * c.sample_rate)), 0.0f);
  const auto chirp = testing::ChirpPlusNoise(c.sample_rate, c.seconds, 50.0, 0.45 * c.sample_rate, 42);
  samples.insert(samples.end(), chirp.begin(), chirp.end());
  const std::string wav = dir.File("in.wav");
  ASSERT_TRUE(WriteAudio(wav, Waveform{samples, c.sample_rate}).ok());
  auto wave = ReadAudio(wav);
  ASSERT_TRUE(wave.ok()) << wave.status().ToString();

  const std::string out = dir.File("ref.bin");
  const std::string log = dir.File("ref.log");
  std::ostringstream cmd;
  cmd << "/usr/bin/python3 " << Quote(ReferenceScript()) << " " << Quote(wav) << " " << Quote(out)
      << " window_ms=" << c.window_ms << " hop_ms=" << c.hop_ms << " n_mels=" << c.n_mels << " f_min=" << c.f_min
      << " f_max=" << c.f_max << " > " << Quote(log) << " 2>&1";
  const int rc = std::system(cmd.str().c_str());
  ASSERT_EQ(rc, 0) << cmd.str() << "\n" << testing::ReadBytes(log);

  std::ifstream in(out, std::ios::binary);
  int32_t shape[2] = {0, 0};
  in.read(reinterpret_cast<char*>(shape), sizeof(shape));
  ASSERT_TRUE(in.good());
  at::Tensor reference = torch::empty({shape[0], shape[1]}, torch::kFloat);
  in.read(reinterpret_cast<char*>(reference.data_ptr<float>()),
          static_cast<std::streamsize>(reference.numel() * sizeof(float)));
  ASSERT_TRUE(in.good());

  FeatureOptions o;
  o.kind = FeatureKind::kKaldiFbank;
  o.sample_rate = c.sample_rate;
  o.window_ms = c.window_ms;
  o.hop_ms = c.hop_ms;
  o.n_mels = c.n_mels;
  o.f_min = c.f_min;
  o.f_max = c.f_max;
  auto ours = MakeExtractor(o).Compute(wave->samples);
  ASSERT_TRUE(ours.ok()) << ours.status().ToString();
  ASSERT_EQ(ours->sizes(), reference.sizes());

  // rtol 1e-4 with an equal atol: values are logs of mel energies, so an
  // absolute error of 1e-4 on the log is a relative error of 1e-4 on the
  // energy itself; the atol keeps the bound meaningful where the log passes
  // through 0 (energy near 1), where a pure relative bound on the log would
  // demand arbitrarily many digits.
  const auto abs_err = (*ours - reference).abs();
  const auto bound = reference.abs() * 1e-4 + 1e-4;
  const double worst_ratio = (abs_err / bound).max().item<double>();
  const double max_abs = abs_err.max().item<double>();
  const double max_rel = (abs_err / reference.abs().clamp_min(1e-3)).max().item<double>();
  std::cout << "[parity " << c.name << "] " << shape[0] << "x" << shape[1] << " max |ours-ref| = " << max_abs
            << ", max relative = " << max_rel << ", worst |err| / (1e-4 |ref| + 1e-4) = " << worst_ratio << std::endl;
  RecordProperty("max_abs_error", std::to_string(max_abs));
  RecordProperty("max_rel_error", std::to_string(max_rel));
  EXPECT_LE(worst_ratio, 1.0);
  EXPECT_LT(reference.min().item<float>(), -10.0f) << "the silent lead-in should reach the log floor";
}

INSTANTIATE_TEST_SUITE_P(
    Cases, KaldiParity,
    ::testing::Values(ParityCase{"16k_25ms_40mels", 16000, 1.3, 0.1, 25.0, 10.0, 40, 20.0, 0.0},
                      ParityCase{"8k_30ms_23mels_fmax4000", 8000, 1.3, 0.1, 30.0, 10.0, 23, 20.0, 4000.0},
                      ParityCase{"16k_20ms_64mels_fmax_offset", 16000, 1.3, 0.1, 20.0, 5.0, 64, 60.0, -400.0}),
    [](const ::testing::TestParamInfo<ParityCase>& info) { return info.param.name; });

}  // namespace
}  // namespace chorus::audio
