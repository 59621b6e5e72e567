// Mixup: plans are permutations with a weight in [0.5, 1], the same for the
// same seed; a mixed batch is the weighted sum of each example and its
// partner; targets follow the partner. (Training with mixup: trainer_test.)
#include "worker/train/mixup.h"

#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/tasks/task.h"

namespace chorus::train {
namespace {

TEST(Mixup, APlanIsAPermutationWithAWeightOfAtLeastHalf) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    const MixPlan plan = PlanMixup(16, 0.4, seed);
    EXPECT_GE(plan.lambda, 0.5);
    EXPECT_LE(plan.lambda, 1.0);
    ASSERT_EQ(plan.perm.numel(), 16);
    std::set<int64_t> seen;
    for (int64_t i = 0; i < 16; ++i) seen.insert(plan.perm[i].item<int64_t>());
    EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
  }
}

TEST(Mixup, TheSameSeedPlansTheSameMixAndAnotherSeedAnother) {
  const MixPlan a = PlanMixup(32, 0.2, 7), b = PlanMixup(32, 0.2, 7), c = PlanMixup(32, 0.2, 8);
  EXPECT_EQ(a.lambda, b.lambda);
  EXPECT_TRUE(a.perm.equal(b.perm));
  EXPECT_FALSE(a.lambda == c.lambda && a.perm.equal(c.perm));
}

TEST(Mixup, SmallAlphaMixesLittleAndLargeAlphaMixesHalfAndHalf) {
  double small = 0, large = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    small += PlanMixup(4, 0.05, seed).lambda / 200;
    large += PlanMixup(4, 8.0, seed).lambda / 200;
  }
  EXPECT_GT(small, 0.9);  // Beta(0.05, 0.05) sits near 0 or 1: folded, near 1
  EXPECT_LT(large, 0.65);  // Beta(8, 8) sits near 0.5
}

TEST(Mixup, AMixedBatchIsEachExampleBlendedWithItsPartner) {
  torch::manual_seed(3);
  const at::Tensor x = torch::randn({6, 5, 4});
  const MixPlan plan = PlanMixup(6, 0.4, 11);
  const at::Tensor mixed = MixBatch(x, plan);
  for (int64_t i = 0; i < 6; ++i) {
    const int64_t j = plan.perm[i].item<int64_t>();
    EXPECT_TRUE(torch::allclose(mixed[i], x[i] * plan.lambda + x[j] * (1 - plan.lambda))) << i;
  }
}

TEST(Mixup, TargetsFollowThePartners) {
  tasks::Targets t;
  t.labels = torch::tensor({10, 11, 12}, torch::kInt64);
  t.frames = torch::tensor({{0.f, 1.f}, {1.f, 1.f}, {0.f, 0.f}});
  t.mask = torch::ones({3, 2});
  t.index = torch::tensor({100, 101, 102}, torch::kInt64);
  const tasks::Targets p = t.Select(torch::tensor({2, 0, 1}, torch::kInt64));
  EXPECT_TRUE(p.labels.equal(torch::tensor({12, 10, 11}, torch::kInt64)));
  EXPECT_TRUE(p.frames.equal(torch::tensor({{0.f, 0.f}, {0.f, 1.f}, {1.f, 1.f}})));
  EXPECT_TRUE(p.index.equal(torch::tensor({102, 100, 101}, torch::kInt64)));
  EXPECT_EQ(p.size(), 3);
}

}  // namespace
}  // namespace chorus::train
