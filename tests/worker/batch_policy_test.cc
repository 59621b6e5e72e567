#include "worker/serve/batch_policy.h"

#include <gtest/gtest.h>

namespace chorus::serve {
namespace {

using std::chrono::microseconds;

BatchPolicyOptions Options(int max, int delay_us, std::vector<int> preferred = {}) {
  BatchPolicyOptions o;
  o.max_batch_size = max;
  o.max_queue_delay = microseconds(delay_us);
  o.preferred_sizes = std::move(preferred);
  return o;
}

TEST(BatchPolicy, EmptyQueueWaits) {
  BatchDecision d = DecideBatch(Options(8, 1000), 0, microseconds(0));
  EXPECT_EQ(d.take, 0);
  EXPECT_GT(d.wait, microseconds(1'000'000));
}

TEST(BatchPolicy, FullBatchRunsAtOnce) {
  EXPECT_EQ(DecideBatch(Options(8, 1000), 8, microseconds(0)).take, 8);
  EXPECT_EQ(DecideBatch(Options(8, 1000), 20, microseconds(0)).take, 8);
}

TEST(BatchPolicy, WaitsForMoreUntilTheOldestHasWaitedTheDelay) {
  BatchDecision d = DecideBatch(Options(8, 1000), 3, microseconds(400));
  EXPECT_EQ(d.take, 0);
  EXPECT_EQ(d.wait, microseconds(600));
  EXPECT_EQ(DecideBatch(Options(8, 1000), 3, microseconds(1000)).take, 3);
}

TEST(BatchPolicy, ZeroDelayRunsWhatWaits) {
  EXPECT_EQ(DecideBatch(Options(8, 0), 1, microseconds(0)).take, 1);
  EXPECT_EQ(DecideBatch(Options(1, 5000), 1, microseconds(0)).take, 1);  // max batch 1: never waits
}

TEST(BatchPolicy, LargestPreferredSizeRunsAsSoonAsItIsThere) {
  auto o = Options(16, 5000, {4, 8});
  EXPECT_EQ(DecideBatch(o, 5, microseconds(0)).take, 0);  // 4 fits but 8 may still come
  EXPECT_EQ(DecideBatch(o, 9, microseconds(0)).take, 8);
  // After the delay: the largest preferred size that fits, not all 7.
  EXPECT_EQ(DecideBatch(o, 7, microseconds(5000)).take, 4);
  // Fewer than any preferred size: what there is.
  EXPECT_EQ(DecideBatch(o, 3, microseconds(5000)).take, 3);
}

TEST(BatchPolicy, ValidatesOptions) {
  EXPECT_TRUE(ValidateBatchPolicy(Options(8, 100, {2, 8})).ok());
  EXPECT_FALSE(ValidateBatchPolicy(Options(0, 100)).ok());
  EXPECT_FALSE(ValidateBatchPolicy(Options(8, -1)).ok());
  Status s = ValidateBatchPolicy(Options(8, 100, {16}));
  EXPECT_NE(s.message().find("preferred batch size 16"), std::string::npos);
}

}  // namespace
}  // namespace chorus::serve
