// Voice-activity post-processing on hand-made probability sequences: the
// Silero semantics (thresholds with release, minimum speech and silence,
// padding, the split of short gaps, the maximum length) offline, and the
// incremental events.
#include "common/tasks/vad_postprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chorus::tasks {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::DoubleNear;

// `runs` of (frames, probability).
std::vector<float> Probs(std::initializer_list<std::pair<int, float>> runs) {
  std::vector<float> p;
  for (const auto& [n, v] : runs) p.insert(p.end(), n, v);
  return p;
}

auto Seg(double a, double b) { return Pair(DoubleNear(a, 1e-9), DoubleNear(b, 1e-9)); }

TEST(VadPostprocess, OneBurstIsPaddedOnBothSides) {
  VadOptions o;  // threshold 0.5, min speech 250 ms, min silence 100 ms, pad 30 ms, 10 ms frames
  EXPECT_THAT(SpeechSegments(Probs({{50, 0.1f}, {40, 0.9f}, {50, 0.1f}}), o), ElementsAre(Seg(0.47, 0.93)));
}

TEST(VadPostprocess, ShortSpeechIsDroppedAndSpeechRunsToTheEnd) {
  VadOptions o;
  EXPECT_TRUE(SpeechSegments(Probs({{50, 0.1f}, {20, 0.9f}, {50, 0.1f}}), o).empty());  // 200 ms < 250 ms
  // Still speaking when the recording ends: the segment ends there.
  EXPECT_THAT(SpeechSegments(Probs({{10, 0.1f}, {40, 0.9f}}), o), ElementsAre(Seg(0.07, 0.5)));
}

TEST(VadPostprocess, APauseShorterThanMinSilenceDoesNotEndSpeech) {
  VadOptions o;
  // 80 ms of quiet inside speech: one segment.
  EXPECT_THAT(SpeechSegments(Probs({{20, 0.0f}, {30, 0.9f}, {8, 0.1f}, {30, 0.9f}, {40, 0.0f}}), o),
              ElementsAre(Seg(0.17, 0.91)));
  // 300 ms: two segments, each padded.
  EXPECT_THAT(SpeechSegments(Probs({{20, 0.0f}, {30, 0.9f}, {30, 0.1f}, {30, 0.9f}, {40, 0.0f}}), o),
              ElementsAre(Seg(0.17, 0.53), Seg(0.77, 1.13)));
}

TEST(VadPostprocess, TheReleaseThresholdHoldsSpeechThroughDips) {
  VadOptions o;  // release 0.35
  EXPECT_THAT(SpeechSegments(Probs({{20, 0.0f}, {30, 0.9f}, {30, 0.4f}, {30, 0.9f}, {40, 0.0f}}), o),
              ElementsAre(Seg(0.17, 1.13)));
  o.release_threshold = 0.45;
  EXPECT_EQ(SpeechSegments(Probs({{20, 0.0f}, {30, 0.9f}, {30, 0.4f}, {30, 0.9f}, {40, 0.0f}}), o).size(), 2u);
}

TEST(VadPostprocess, CloseSegmentsShareTheGapBetweenThem) {
  VadOptions o;
  o.speech_pad_ms = 100;  // pads of 10 frames; a gap of 12 frames is shorter than two pads
  o.min_silence_ms = 100;
  EXPECT_THAT(SpeechSegments(Probs({{30, 0.0f}, {30, 0.9f}, {12, 0.0f}, {30, 0.9f}, {30, 0.0f}}), o),
              ElementsAre(Seg(0.2, 0.66), Seg(0.66, 1.12)));
}

TEST(VadPostprocess, OverLongSpeechIsCut) {
  VadOptions o;
  o.max_speech_s = 1.0;
  o.speech_pad_ms = 0;
  // 3 s of speech without a pause: cut into pieces of at most the limit.
  std::vector<Segment> s = SpeechSegments(Probs({{10, 0.0f}, {300, 0.9f}, {10, 0.0f}}), o);
  ASSERT_GE(s.size(), 3u);
  for (const auto& [a, b] : s) EXPECT_LE(b - a, 1.0 + 1e-9);
  // With a 200 ms pause inside (shorter than min_silence_ms, so it does not
  // end the speech by itself), the cut falls on the pause.
  o.min_silence_ms = 300;
  s = SpeechSegments(Probs({{10, 0.0f}, {60, 0.9f}, {20, 0.2f}, {60, 0.9f}, {10, 0.0f}}), o);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_NEAR(s[0].second, 0.7, 1e-9);
}

TEST(VadPostprocess, IncrementalEventsComeAsTheFramesArrive) {
  VadOptions o;
  VadEventDetector d(o);
  std::vector<std::pair<int, VadEvent>> events;
  const std::vector<float> p = Probs({{20, 0.0f}, {30, 0.9f}, {5, 0.1f}, {30, 0.9f}, {40, 0.0f}});
  for (size_t i = 0; i < p.size(); ++i)
    if (auto e = d.Push(p[i])) events.emplace_back(static_cast<int>(i), *e);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0].second.start);
  EXPECT_EQ(events[0].first, 20);  // at the first speech frame
  EXPECT_NEAR(events[0].second.seconds, 0.17, 1e-9);
  EXPECT_FALSE(events[1].second.start);
  EXPECT_EQ(events[1].first, 95);  // once 100 ms of quiet have passed
  EXPECT_NEAR(events[1].second.seconds, 0.88, 1e-9);
  EXPECT_FALSE(d.Finish().has_value());
  VadEventDetector open(o);
  (void)open.Push(0.9f);
  ASSERT_TRUE(open.Finish().has_value());
}

TEST(VadPostprocess, OptionsAreValidated) {
  EXPECT_TRUE(VadOptions::FromJson({{"threshold", 0.6}, {"min_speech_ms", 100}}).ok());
  EXPECT_THAT(VadOptions::FromJson({{"threshold", 1.5}}).status().message(), ::testing::HasSubstr("threshold"));
  EXPECT_THAT(VadOptions::FromJson({{"treshold", 0.5}}).status().message(), ::testing::HasSubstr("treshold"));
  EXPECT_THAT(VadOptions::FromJson({{"threshold", "high"}}).status().message(), ::testing::HasSubstr("number"));
  auto round = VadOptions::FromJson(VadOptions().ToJson());
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(round->threshold, 0.5);
}

}  // namespace
}  // namespace chorus::tasks
