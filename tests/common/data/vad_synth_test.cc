// chorus dataset vad-synth: recordings over noise with speech segments that
// the segments reader takes, deterministic for a seed, labels where the
// speech is, and clear errors for bad options.
#include "common/data/vad_synth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/audio/wav_io.h"
#include "common/data/segments_dataset.h"
#include "common/util/fs.h"
#include "tests/common/data/data_test_util.h"

namespace chorus::data {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;

VadSynthOptions Small(const std::string& out) {
  VadSynthOptions o;
  o.out = out;
  o.recordings = 6;
  o.min_seconds = 2;
  o.max_seconds = 3;
  o.voices = 2;
  o.words = {"yes", "seven"};
  o.no_speech_fraction = 0;
  return o;
}

TEST(VadSynth, WritesRecordingsWithSegmentsTheReaderTakes) {
  ScratchDir dir("vad_synth");
  VadSynthOptions o = Small(dir.path());
  o.snrs_db = {20, 5};
  ASSERT_TRUE(MakeVadDataset(o).ok());
  SegmentsDatasetOptions so;
  so.root = dir.path();
  so.validation_percentage = 0;
  so.testing_percentage = 0;
  auto split = LoadSegmentsDataset(so);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  ASSERT_EQ(split->train.size(), 6u);
  for (const auto& e : split->train) {
    auto wave = audio::ReadAudio(e.path);
    ASSERT_TRUE(wave.ok());
    EXPECT_GE(wave->seconds(), 2.0);
    EXPECT_LE(wave->seconds(), 3.0 + 1e-3);
    ASSERT_FALSE(e.speech.empty()) << e.path;
    double speech = 0;
    for (const auto& [a, b] : e.speech) {
      EXPECT_LT(a, b);
      EXPECT_LE(b, wave->seconds() + 1e-6);
      speech += b - a;
    }
    EXPECT_GT(speech, 0.1);
  }
  auto conditions = ReadFile(dir / "conditions.csv");
  ASSERT_TRUE(conditions.ok());
  EXPECT_THAT(*conditions, HasSubstr("recordings/rec_00000.wav,"));
  EXPECT_THAT(*conditions, HasSubstr(",20.000,"));
  EXPECT_THAT(*conditions, HasSubstr(",5.000,"));
}

TEST(VadSynth, SpeechFramesAreLouderThanTheRestAtHighSnr) {
  ScratchDir dir("vad_synth_energy");
  VadSynthOptions o = Small(dir.path());
  o.recordings = 2;
  o.snrs_db = {30};
  ASSERT_TRUE(MakeVadDataset(o).ok());
  SegmentsDatasetOptions so;
  so.root = dir.path();
  so.validation_percentage = so.testing_percentage = 0;
  auto split = LoadSegmentsDataset(so);
  ASSERT_TRUE(split.ok());
  for (const auto& e : split->train) {
    auto wave = audio::ReadAudio(e.path);
    ASSERT_TRUE(wave.ok());
    double in = 0, out = 0;
    int64_t n_in = 0, n_out = 0;
    for (size_t i = 0; i < wave->samples.size(); ++i) {
      const double t = static_cast<double>(i) / wave->sample_rate;
      bool speech = false;
      for (const auto& [a, b] : e.speech) speech |= t >= a && t < b;
      (speech ? in : out) += wave->samples[i] * wave->samples[i];
      ++(speech ? n_in : n_out);
    }
    ASSERT_GT(n_in, 0);
    ASSERT_GT(n_out, 0);
    EXPECT_GT(in / n_in, 10 * out / n_out) << e.path;  // 30 dB nominal; the labels cover the loud part
  }
}

TEST(VadSynth, SameSeedSameFilesAndNoSpeechRecordingsHaveNoSegments) {
  ScratchDir a("vad_synth_a"), b("vad_synth_b");
  VadSynthOptions oa = Small(a.path()), ob = Small(b.path());
  oa.recordings = ob.recordings = 3;
  ASSERT_TRUE(MakeVadDataset(oa).ok());
  ASSERT_TRUE(MakeVadDataset(ob).ok());
  EXPECT_EQ(ReadFile(a / "recordings/rec_00002.wav").value(), ReadFile(b / "recordings/rec_00002.wav").value());
  EXPECT_EQ(ReadFile(a / "segments.csv").value(), ReadFile(b / "segments.csv").value());

  ScratchDir c("vad_synth_quiet");
  VadSynthOptions oc = Small(c.path());
  oc.recordings = 2;
  oc.no_speech_fraction = 1;
  ASSERT_TRUE(MakeVadDataset(oc).ok());
  EXPECT_EQ(ReadFile(c / "segments.csv").value(), "file,start,end\n");
}

TEST(VadSynth, BadOptionsAreRefused) {
  VadSynthOptions o = Small("/tmp/unused");
  o.noises = {"rain"};
  EXPECT_THAT(ValidateVadSynthOptions(o).message(), HasSubstr("unknown noise 'rain'"));
  o = Small("/tmp/unused");
  o.voices = 0;
  EXPECT_THAT(ValidateVadSynthOptions(o).message(), HasSubstr("no speech"));
  o = Small("/tmp/unused");
  o.min_seconds = 5;
  o.max_seconds = 2;
  EXPECT_THAT(ValidateVadSynthOptions(o).message(), HasSubstr("min_seconds"));
  o = Small("/tmp/unused");
  o.fsdd_root = "/nonexistent";
  EXPECT_FALSE(MakeVadDataset(o).ok());
}

TEST(VadSynth, FramesToSegments) {
  EXPECT_EQ(FramesToSegments({false, true, true, false, true}, 0.01),
            (std::vector<std::pair<double, double>>{{0.01, 0.03}, {0.04, 0.05}}));
}

}  // namespace
}  // namespace chorus::data
