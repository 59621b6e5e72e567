#include <gtest/gtest.h>

#include "coordinator/serving/autoscaler.h"

namespace chorus::coordinator {
namespace {

proto::ScalePolicy Policy(int min, int max, double target, double up_s, double down_s) {
  proto::ScalePolicy p;
  p.set_min_workers(min);
  p.set_max_workers(max);
  p.set_target_ongoing(target);
  p.set_scale_up_delay_s(up_s);
  p.set_scale_down_delay_s(down_s);
  return p;
}

TEST(DesiredWorkers, ScalesUpOnlyAfterTheLoadStaysAboveTargetForTheDelay) {
  const auto p = Policy(1, 4, 2, 0.3, 2);
  ScaleTimers t;
  EXPECT_EQ(DesiredWorkers(p, 1, 7.5, 0.0, &t), 1);  // above: the delay starts
  EXPECT_EQ(DesiredWorkers(p, 1, 7.5, 0.2, &t), 1);
  EXPECT_EQ(DesiredWorkers(p, 1, 7.5, 0.3, &t), 4);  // ceil(7.5 / 2) = 4
}

TEST(DesiredWorkers, ALoadBackAtTargetRestartsTheScaleUpDelay) {
  const auto p = Policy(1, 4, 2, 0.3, 2);
  ScaleTimers t;
  EXPECT_EQ(DesiredWorkers(p, 1, 6, 0.0, &t), 1);
  EXPECT_EQ(DesiredWorkers(p, 1, 1.5, 0.2, &t), 1);  // at target again
  EXPECT_EQ(DesiredWorkers(p, 1, 6, 0.3, &t), 1);    // a fresh delay
  EXPECT_EQ(DesiredWorkers(p, 1, 6, 0.6, &t), 3);
}

TEST(DesiredWorkers, AFractionalMeanAboveTargetCountsAsAbove) {
  // 2.4 mean ongoing with one worker and target 2: two workers, not one.
  const auto p = Policy(1, 2, 2, 0, 2);
  ScaleTimers t;
  EXPECT_EQ(DesiredWorkers(p, 1, 2.4, 0.0, &t), 2);
}

TEST(DesiredWorkers, ScalesDownOneWorkerPerDelay) {
  const auto p = Policy(1, 4, 2, 0.3, 2);
  ScaleTimers t;
  EXPECT_EQ(DesiredWorkers(p, 4, 0, 0.0, &t), 4);
  EXPECT_EQ(DesiredWorkers(p, 4, 0, 1.9, &t), 4);
  EXPECT_EQ(DesiredWorkers(p, 4, 0, 2.0, &t), 3);
  EXPECT_EQ(DesiredWorkers(p, 3, 0, 3.0, &t), 3);  // the next one waits a whole delay
  EXPECT_EQ(DesiredWorkers(p, 3, 0, 4.0, &t), 2);
  EXPECT_EQ(DesiredWorkers(p, 1, 0, 9.0, &t), 1);  // never below min
}

TEST(DesiredWorkers, ColdStartAndBelowMinimumDoNotWait) {
  ScaleTimers t;
  EXPECT_EQ(DesiredWorkers(Policy(0, 2, 2, 10, 10), 0, 0.1, 0.0, &t), 1);  // any load wakes a scaled-to-zero model
  EXPECT_EQ(DesiredWorkers(Policy(0, 2, 2, 10, 10), 0, 0, 0.0, &t), 0);
  EXPECT_EQ(DesiredWorkers(Policy(2, 3, 2, 10, 10), 1, 0, 0.0, &t), 2);  // a worker died: replaced at once
}

TEST(StartBackoff, DoublesFromHalfASecondUpToAMinute) {
  EXPECT_EQ(StartBackoffSeconds(0), 0);
  EXPECT_EQ(StartBackoffSeconds(1), 0.5);
  EXPECT_EQ(StartBackoffSeconds(2), 1);
  EXPECT_EQ(StartBackoffSeconds(4), 4);
  EXPECT_EQ(StartBackoffSeconds(8), 60);
  EXPECT_EQ(StartBackoffSeconds(1000), 60);
}

}  // namespace
}  // namespace chorus::coordinator
