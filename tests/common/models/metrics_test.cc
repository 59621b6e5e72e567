#include "common/models/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chorus::models {
namespace {

TEST(Metrics, PrecisionRecallF1AndAccuracy) {
  ConfusionMatrix m({"a", "b", "c"});
  // a: 3 right, 1 predicted as b; b: 2 right; c: 1 right, 1 predicted as a.
  for (int i = 0; i < 3; ++i) m.Add(0, 0);
  m.Add(0, 1);
  m.Add(1, 1);
  m.Add(1, 1);
  m.Add(2, 2);
  m.Add(2, 0);
  EvalReport r = MakeReport(m);
  EXPECT_EQ(r.count, 8);
  EXPECT_DOUBLE_EQ(r.accuracy, 6.0 / 8.0);
  EXPECT_DOUBLE_EQ(r.classes[0].precision, 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(r.classes[0].recall, 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(r.classes[1].precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.classes[1].recall, 1.0);
  EXPECT_DOUBLE_EQ(r.classes[1].f1, 0.8);
  EXPECT_DOUBLE_EQ(r.classes[2].recall, 0.5);
  EXPECT_EQ(r.classes[2].support, 2);
  EXPECT_EQ(r.confusion[2][0], 1);

  nlohmann::json j = r.ToJson();
  EXPECT_DOUBLE_EQ(j["accuracy"].get<double>(), 0.75);
  EXPECT_EQ(j["classes"][1]["label"], "b");
  EXPECT_THAT(r.ToTable(), ::testing::HasSubstr("accuracy 0.7500 over 8 examples"));
}

TEST(Metrics, MergeAddsCountsAndEmptyIsZero) {
  ConfusionMatrix a({"x", "y"}), b({"x", "y"});
  a.Add(0, 0);
  b.Add(1, 0);
  a.Merge(b);
  EXPECT_EQ(a.Total(), 2);
  EXPECT_EQ(a.Count(1, 0), 1);
  EvalReport empty = MakeReport(ConfusionMatrix({"x", "y"}));
  EXPECT_EQ(empty.accuracy, 0.0);
  EXPECT_EQ(empty.classes[0].precision, 0.0);
}

}  // namespace
}  // namespace chorus::models
