// KeywordSpotter: smoothing over windows, the threshold, following the
// peak, the refractory period, quiet windows, non-keyword classes, and a
// state that can stop after any window and go on elsewhere with the same
// keywords.
#include "common/tasks/keyword_spotter.h"

#include <cmath>

#include <gtest/gtest.h>

namespace chorus::tasks {
namespace {

const std::vector<std::string> kLabels = {"_silence_", "yes", "no"};

// Per window: probabilities of (_silence_, yes, no), or empty for a quiet window.
using Windows = std::vector<std::vector<float>>;

// The keywords of `windows` (and, with `finish`, the one followed at the end).
std::vector<KeywordEvent> Spot(const KeywordOptions& o, const Windows& windows, KeywordSpotter::State state = {},
                               int64_t first = 1, bool finish = true) {
  KeywordSpotter spotter(o, kLabels, std::move(state));
  std::vector<KeywordEvent> out;
  for (size_t i = 0; i < windows.size(); ++i)
    if (auto e = spotter.Push(first + static_cast<int64_t>(i), windows[i].empty() ? nullptr : windows[i].data()))
      out.push_back(*e);
  if (finish)
    if (auto e = spotter.Finish()) out.push_back(*e);
  return out;
}

KeywordOptions AtOnce() {
  KeywordOptions o;  // hop 100 ms, smooth 3, threshold 0.7, refractory 1000 ms
  o.peak_ms = 0;     // reported at the first window over the threshold
  return o;
}

TEST(KeywordSpotter, AWordIsReportedOnceWhenItsSmoothedProbabilityReachesTheThreshold) {
  KeywordOptions o = AtOnce();
  const Windows w = {{1, 0, 0}, {0.1f, 0.9f, 0}, {0, 1, 0}, {0, 1, 0}, {0, 1, 0}, {1, 0, 0}};
  const std::vector<KeywordEvent> e = Spot(o, w);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(kLabels[e[0].label], "yes");
  // Window 3: (0 + 0.9 + 1) / 3 < 0.7; window 4: (0.9 + 1 + 1) / 3 = 0.967.
  EXPECT_DOUBLE_EQ(e[0].seconds, 0.4);
  EXPECT_NEAR(e[0].score, 2.9 / 3, 1e-6);
}

TEST(KeywordSpotter, TheRefractoryPeriodHoldsBackAllKeywordsThenLetsTheNextThrough) {
  KeywordOptions o = AtOnce();
  o.smooth = 1;
  o.refractory_ms = 300;
  const Windows w = {{0, 1, 0}, {0, 1, 0}, {0, 0, 1}, {0, 0, 1}, {0, 0, 1}};
  const std::vector<KeywordEvent> e = Spot(o, w);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(kLabels[e[0].label], "yes");
  EXPECT_DOUBLE_EQ(e[0].seconds, 0.1);
  EXPECT_EQ(kLabels[e[1].label], "no");
  EXPECT_DOUBLE_EQ(e[1].seconds, 0.4);  // windows 2 and 3 fall within 300 ms of window 1
}

TEST(KeywordSpotter, ClassesStartingWithAnUnderscoreAreNeverKeywords) {
  KeywordOptions o;
  o.smooth = 1;
  o.threshold = 0.5;
  EXPECT_TRUE(Spot(o, {{1, 0, 0}, {0.9f, 0.05f, 0.05f}}).empty());
}

TEST(KeywordSpotter, AQuietWindowIsNoEvidenceAndDilutesTheAverage) {
  KeywordOptions o = AtOnce();
  o.smooth = 2;
  o.threshold = 0.6;
  EXPECT_TRUE(Spot(o, {{}, {}, {}}).empty());
  // Quiet, then a sure window: (0 + 1) / 2 = 0.5 < 0.6; then two sure ones: 1.
  const std::vector<KeywordEvent> e = Spot(o, {{}, {0, 1, 0}, {0, 1, 0}});
  ASSERT_EQ(e.size(), 1u);
  EXPECT_DOUBLE_EQ(e[0].seconds, 0.3);
}

TEST(KeywordSpotter, ItFollowsThePeakAndReportsTheBestWindowsKeywordAtItsTime) {
  KeywordOptions o;
  o.smooth = 1;
  o.threshold = 0.5;
  o.peak_ms = 300;
  // "no" heard in part as the word enters the window, then "yes" clearer: "yes" at window 3.
  std::vector<KeywordEvent> e = Spot(o, {{0.4f, 0, 0.6f}, {0, 0.7f, 0.3f}, {0, 0.9f, 0.1f}, {0.2f, 0.8f, 0}, {1, 0, 0}});
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(kLabels[e[0].label], "yes");
  EXPECT_DOUBLE_EQ(e[0].seconds, 0.3);
  EXPECT_FLOAT_EQ(e[0].score, 0.9f);
  // A peak followed for peak_ms is reported even while the word goes on; the refractory period counts from it.
  e = Spot(o, Windows(15, {0, 1, 0}), {}, 1, /*finish=*/false);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_DOUBLE_EQ(e[0].seconds, 0.1);   // reported at window 4 (300 ms on), the peak's time
  EXPECT_DOUBLE_EQ(e[1].seconds, 1.1);   // 1000 ms later
  // A peak still followed when the stream ends is reported by Finish.
  e = Spot(o, {{0, 0, 0}, {0, 0.6f, 0}});
  ASSERT_EQ(e.size(), 1u);
  EXPECT_DOUBLE_EQ(e[0].seconds, 0.2);
}

TEST(KeywordSpotter, StoppingAfterAnyWindowAndGoingOnFromItsStateGivesTheSameKeywords) {
  KeywordOptions o;
  o.threshold = 0.5;
  o.refractory_ms = 250;
  Windows w;
  for (int i = 0; i < 40; ++i) {
    const float yes = 0.5f + 0.5f * std::sin(i * 0.7f), no = 0.5f * (1 - yes);
    if (i % 9 == 4) w.push_back({});
    else w.push_back({1 - yes - no, yes, no});
  }
  const std::vector<KeywordEvent> whole = Spot(o, w);
  ASSERT_GE(whole.size(), 3u);
  for (size_t cut = 1; cut < w.size(); ++cut) {
    KeywordSpotter first(o, kLabels);
    std::vector<KeywordEvent> events;
    for (size_t i = 0; i < cut; ++i)
      if (auto e = first.Push(static_cast<int64_t>(i) + 1, w[i].empty() ? nullptr : w[i].data())) events.push_back(*e);
    const std::vector<KeywordEvent> rest =
        Spot(o, Windows(w.begin() + static_cast<long>(cut), w.end()), first.state(), static_cast<int64_t>(cut) + 1);
    // (first is not finished: the stream goes on elsewhere with its state.)
    events.insert(events.end(), rest.begin(), rest.end());
    ASSERT_EQ(events.size(), whole.size()) << "cut after window " << cut;
    for (size_t k = 0; k < whole.size(); ++k) {
      EXPECT_EQ(events[k].label, whole[k].label);
      EXPECT_DOUBLE_EQ(events[k].seconds, whole[k].seconds);
      EXPECT_FLOAT_EQ(events[k].score, whole[k].score);
    }
  }
}

TEST(KeywordOptions, BadValuesAndUnknownKeysAreRefusedByName) {
  EXPECT_TRUE(KeywordOptions::FromJson(nlohmann::json::object()).ok());
  auto bad = [](const nlohmann::json& j) { return KeywordOptions::FromJson(j).status().message(); };
  EXPECT_NE(bad({{"hop_ms", 1}}).find("hop_ms"), std::string::npos);
  EXPECT_NE(bad({{"smooth", 2.5}}).find("smooth"), std::string::npos);
  EXPECT_NE(bad({{"smooth", 0}}).find("smooth"), std::string::npos);
  EXPECT_NE(bad({{"threshold", 0}}).find("threshold"), std::string::npos);
  EXPECT_NE(bad({{"refractory_ms", -1}}).find("refractory_ms"), std::string::npos);
  EXPECT_NE(bad({{"peak_ms", 20000}}).find("peak_ms"), std::string::npos);
  EXPECT_NE(bad({{"min_level_db", 3}}).find("min_level_db"), std::string::npos);
  EXPECT_NE(bad({{"threshold", "high"}}).find("threshold must be a number"), std::string::npos);
  EXPECT_NE(bad({{"window", 1}}).find("unknown keyword-spotting option 'window'"), std::string::npos);
  const KeywordOptions o = KeywordOptions::FromJson({{"smooth", 5}, {"threshold", 0.9}}).value();
  EXPECT_EQ(o.smooth, 5);
  EXPECT_EQ(KeywordOptions::FromJson(o.ToJson()).value().ToJson(), o.ToJson());
}

TEST(LevelDb, IsTheRmsLevelInDecibelsFullScale) {
  std::vector<float> half(1000, 0.5f);
  EXPECT_NEAR(LevelDb(half.data(), 1000), 20 * std::log10(0.5), 1e-9);
  std::vector<float> zero(10, 0.0f);
  EXPECT_TRUE(std::isinf(LevelDb(zero.data(), 10)));
}

}  // namespace
}  // namespace chorus::tasks
