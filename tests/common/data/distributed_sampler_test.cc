#include "common/data/distributed_sampler.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "data_test_util.h"

namespace chorus::data {
namespace {

using testing::RunPython;
using testing::SplitLines;

std::vector<int64_t> RankIndices(int64_t n, int world, int rank, bool shuffle, bool drop_last, uint64_t seed = 0,
                                 int64_t epoch = 0) {
  SamplerOptions o;
  o.dataset_size = n;
  o.world_size = world;
  o.rank = rank;
  o.shuffle = shuffle;
  o.drop_last = drop_last;
  o.seed = seed;
  auto s = DistributedSampler::Create(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (!s.ok()) return {};
  s->SetEpoch(epoch);
  auto idx = s->Indices();
  EXPECT_EQ(static_cast<int64_t>(idx.size()), s->NumSamples());
  return idx;
}

TEST(DistributedSampler, MatchesPyTorchExample) {
  using V = std::vector<int64_t>;
  EXPECT_EQ(RankIndices(10, 4, 0, false, false), (V{0, 4, 8}));
  EXPECT_EQ(RankIndices(10, 4, 1, false, false), (V{1, 5, 9}));
  EXPECT_EQ(RankIndices(10, 4, 2, false, false), (V{2, 6, 0}));
  EXPECT_EQ(RankIndices(10, 4, 3, false, false), (V{3, 7, 1}));
  for (int r = 0; r < 4; ++r) EXPECT_EQ(RankIndices(10, 4, r, false, true), (V{r, r + 4})) << "rank " << r;
}

TEST(DistributedSampler, RanksCoverEveryIndex) {
  for (bool shuffle : {false, true}) {
    for (int64_t n : {1, 7, 10, 23, 100}) {
      for (int world : {1, 2, 3, 4, 8}) {
        std::set<int64_t> seen;
        int64_t total = 0;
        for (int r = 0; r < world; ++r) {
          auto idx = RankIndices(n, world, r, shuffle, false, 5, 2);
          EXPECT_EQ(static_cast<int64_t>(idx.size()), (n + world - 1) / world);
          total += static_cast<int64_t>(idx.size());
          seen.insert(idx.begin(), idx.end());
        }
        EXPECT_EQ(static_cast<int64_t>(seen.size()), n) << "n=" << n << " world=" << world;
        EXPECT_EQ(*seen.begin(), 0);
        EXPECT_EQ(*seen.rbegin(), n - 1);
        EXPECT_EQ(total % world, 0);
        // drop_last: disjoint, world * floor(n / world) indices.
        std::set<int64_t> dropped;
        for (int r = 0; r < world; ++r) {
          auto idx = RankIndices(n, world, r, shuffle, true, 5, 2);
          EXPECT_EQ(static_cast<int64_t>(idx.size()), n / world);
          dropped.insert(idx.begin(), idx.end());
        }
        EXPECT_EQ(static_cast<int64_t>(dropped.size()), (n / world) * world);
      }
    }
  }
}

TEST(DistributedSampler, ShuffleDependsOnSeedAndEpoch) {
  auto a = RankIndices(50, 1, 0, true, false, 7, 0);
  auto b = RankIndices(50, 1, 0, true, false, 7, 0);
  auto c = RankIndices(50, 1, 0, true, false, 7, 1);
  auto d = RankIndices(50, 1, 0, true, false, 8, 0);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
  // seed + epoch is what seeds the generator, as in PyTorch.
  EXPECT_EQ(RankIndices(50, 1, 0, true, false, 6, 1), a);
}

TEST(DistributedSampler, SmallDatasetPadsByRepeating) {
  using V = std::vector<int64_t>;
  // N=2, world 5: [0, 1] padded to [0, 1, 0, 1, 0].
  EXPECT_EQ(RankIndices(2, 5, 0, false, false), (V{0}));
  EXPECT_EQ(RankIndices(2, 5, 2, false, false), (V{0}));
  EXPECT_EQ(RankIndices(2, 5, 3, false, false), (V{1}));
  EXPECT_EQ(RankIndices(2, 5, 4, false, true), (V{}));
  EXPECT_EQ(RankIndices(0, 3, 1, true, false), (V{}));
}

TEST(DistributedSampler, RejectsBadOptions) {
  SamplerOptions o;
  o.dataset_size = 10;
  o.world_size = 0;
  EXPECT_EQ(DistributedSampler::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.world_size = 4;
  o.rank = 4;
  EXPECT_EQ(DistributedSampler::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.rank = -1;
  EXPECT_EQ(DistributedSampler::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.rank = 0;
  o.dataset_size = -1;
  EXPECT_EQ(DistributedSampler::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.dataset_size = 0;
  EXPECT_TRUE(DistributedSampler::Create(o).ok());
}

// Compares with torch.utils.data.DistributedSampler in the system Python.
TEST(DistributedSampler, MatchesPythonTorchShuffled) {
  if (!testing::HavePython()) GTEST_SKIP() << "/usr/bin/python3 not found";
  const char* script =
      "import sys\n"
      "try:\n"
      "    import torch\n"
      "    from torch.utils.data import DistributedSampler\n"
      "except ImportError:\n"
      "    print(\"NO_TORCH\"); sys.exit(0)\n"
      "for (n, world, seed, epoch) in [(10, 4, 7, 3), (23, 3, 7, 3), (23, 3, 0, 0), (100, 8, 12345, 9)]:\n"
      "    for drop_last in (False, True):\n"
      "        for rank in range(world):\n"
      "            s = DistributedSampler(list(range(n)), num_replicas=world, rank=rank, shuffle=True,\n"
      "                                   seed=seed, drop_last=drop_last)\n"
      "            s.set_epoch(epoch)\n"
      "            print(n, world, seed, epoch, int(drop_last), rank, *list(iter(s)))\n";
  int rc = 0;
  std::string out = RunPython(script, &rc);
  ASSERT_EQ(rc, 0) << out;
  if (out.find("NO_TORCH") != std::string::npos) GTEST_SKIP() << "/usr/bin/python3 has no torch";
  auto lines = SplitLines(out);
  ASSERT_EQ(lines.size(), 2u * (4 + 3 + 3 + 8)) << out;
  for (const auto& line : lines) {
    std::istringstream in(line);
    int64_t n, epoch;
    int world, drop_last, rank;
    uint64_t seed;
    in >> n >> world >> seed >> epoch >> drop_last >> rank;
    std::vector<int64_t> expected;
    int64_t v;
    while (in >> v) expected.push_back(v);
    EXPECT_EQ(RankIndices(n, world, rank, true, drop_last != 0, seed, epoch), expected) << line;
  }
}

}  // namespace
}  // namespace chorus::data
