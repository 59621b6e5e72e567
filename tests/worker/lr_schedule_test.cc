#include "worker/train/lr_schedule.h"

#include <gtest/gtest.h>

namespace chorus::train {
namespace {

TEST(LrSchedule, WarmupThenCosineToFloor) {
  config::ScheduleSpec s;
  s.kind = "cosine";
  s.warmup_steps = 10;
  s.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 1.0, 0, 110), 0.1);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 1.0, 9, 110), 1.0);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 1.0, 10, 110), 1.0);
  EXPECT_NEAR(LearningRateAt(s, 1.0, 60, 110), 0.55, 1e-12);  // halfway: midpoint of 1.0 and 0.1
  EXPECT_NEAR(LearningRateAt(s, 1.0, 110, 110), 0.1, 1e-12);
  EXPECT_NEAR(LearningRateAt(s, 1.0, 500, 110), 0.1, 1e-12);  // clamped past the end
}

TEST(LrSchedule, StepDecayAndConstant) {
  config::ScheduleSpec s;
  s.kind = "step";
  s.step_size = 100;
  s.gamma = 0.5;
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 0.2, 99, 1000), 0.2);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 0.2, 100, 1000), 0.1);
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 0.2, 250, 1000), 0.05);
  s.kind = "constant";
  EXPECT_DOUBLE_EQ(LearningRateAt(s, 0.2, 999, 1000), 0.2);
}

}  // namespace
}  // namespace chorus::train
