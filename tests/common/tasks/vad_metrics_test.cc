#include "common/tasks/vad_metrics.h"

#include <gtest/gtest.h>

namespace chorus::tasks {
namespace {

TEST(VadMetrics, RocAucOfSeparatedInvertedAndUninformativeScores) {
  const std::vector<float> targets = {1, 1, 1, 0, 0, 0};
  VadMetrics good, bad, flat;
  const std::vector<float> p_good = {0.9f, 0.8f, 0.7f, 0.3f, 0.2f, 0.1f};
  const std::vector<float> p_bad = {0.1f, 0.2f, 0.3f, 0.7f, 0.8f, 0.9f};
  const std::vector<float> p_flat(6, 0.5f);
  good.AddFrames(p_good.data(), targets.data(), 6);
  bad.AddFrames(p_bad.data(), targets.data(), 6);
  flat.AddFrames(p_flat.data(), targets.data(), 6);
  EXPECT_DOUBLE_EQ(good.RocAuc(), 1.0);
  EXPECT_DOUBLE_EQ(bad.RocAuc(), 0.0);
  EXPECT_DOUBLE_EQ(flat.RocAuc(), 0.5);
  // One swapped pair out of nine.
  VadMetrics one;
  const std::vector<float> p_one = {0.9f, 0.8f, 0.25f, 0.3f, 0.2f, 0.1f};
  one.AddFrames(p_one.data(), targets.data(), 6);
  EXPECT_NEAR(one.RocAuc(), 8.0 / 9.0, 1e-12);
}

TEST(VadMetrics, FiguresAtAThreshold) {
  const std::vector<float> t = {1, 1, 1, 1, 0, 0, 0, 0};
  const std::vector<float> p = {0.9f, 0.8f, 0.6f, 0.4f, 0.7f, 0.2f, 0.1f, 0.0f};
  VadMetrics m;
  m.AddFrames(p.data(), t.data(), 8);
  auto at = m.At(0.5);  // tp 3, fn 1, fp 1, tn 3
  EXPECT_DOUBLE_EQ(at.precision, 0.75);
  EXPECT_DOUBLE_EQ(at.recall, 0.75);
  EXPECT_DOUBLE_EQ(at.f1, 0.75);
  EXPECT_DOUBLE_EQ(at.miss_rate, 0.25);
  EXPECT_DOUBLE_EQ(at.false_alarm_rate, 0.25);
  EXPECT_EQ(m.frames(), 8);
  EXPECT_EQ(m.speech_frames(), 4);
  EXPECT_GE(m.BestF1().f1, at.f1);
}

TEST(VadMetrics, SegmentErrorsAndSummingAcrossRanks) {
  VadMetrics a, b;
  a.AddSegments({{1.0, 2.0}, {5.0, 6.0}}, {{1.1, 2.3}});       // one matched: onset 0.1, offset 0.3
  b.AddSegments({{0.0, 1.0}}, {{0.2, 0.9}, {3.0, 4.0}});       // matched: onset 0.2, offset 0.1
  std::vector<double> sum = a.Counts();
  const std::vector<double> other = b.Counts();
  for (size_t i = 0; i < sum.size(); ++i) sum[i] += other[i];
  VadMetrics all;
  all.SetCounts(sum);
  EXPECT_EQ(all.reference_segments(), 3);
  EXPECT_EQ(all.hypothesis_segments(), 3);
  EXPECT_NEAR(all.matched_fraction(), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(all.mean_onset_error_s(), 0.15, 1e-12);
  EXPECT_NEAR(all.mean_offset_error_s(), 0.2, 1e-12);
}

}  // namespace
}  // namespace chorus::tasks
