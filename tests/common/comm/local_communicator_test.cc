// LocalCommunicator: every collective against values computed here, with the
// ranks played by threads, for groups of 1 to 4; argument errors; ordering of
// collectives issued back to back; and the timeout when a rank never joins.
#include "common/comm/local_communicator.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace chorus::comm {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;

// Runs body(comm) on one thread per rank of a fresh group and joins them. A
// short timeout keeps a broken collective from hanging the test for minutes.
void RunRanks(int world, const std::function<void(Communicator&)>& body,
              milliseconds timeout = milliseconds(10000)) {
  auto comms = LocalCommunicator::CreateGroup(world);
  for (auto& c : comms) c->set_timeout(timeout);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) threads.emplace_back([&, r] { body(*comms[r]); });
  for (auto& t : threads) t.join();
}

// Rank-dependent input: element i of rank r is a + b*r + c*i (mixed signs, so
// integer averages exercise truncation toward zero).
at::Tensor Input(int rank, int64_t n, at::ScalarType dtype) {
  auto i = torch::arange(n, torch::kFloat64);
  return (-7.0 + 3.0 * rank + 2.0 * i).to(dtype);
}

// Reduction of Input over every rank, computed in double (sum) or with the
// integer/floating average the communicator promises.
at::Tensor Expected(int world, int64_t n, at::ScalarType dtype, ReduceOp op) {
  auto sum = torch::zeros({n}, torch::kFloat64);
  for (int r = 0; r < world; ++r) sum += Input(r, n, torch::kFloat64);
  if (op == ReduceOp::kAverage) {
    if (c10::isIntegralType(dtype, false)) return sum.to(torch::kInt64).div(world, "trunc").to(dtype);
    return (sum / world).to(dtype);
  }
  return sum.to(dtype);
}

void ExpectEqual(const at::Tensor& actual, const at::Tensor& expected, const std::string& what) {
  ASSERT_EQ(actual.scalar_type(), expected.scalar_type()) << what;
  ASSERT_EQ(actual.sizes(), expected.sizes()) << what;
  if (c10::isIntegralType(actual.scalar_type(), true)) {
    EXPECT_TRUE(torch::equal(actual, expected)) << what << "\nactual:\n" << actual << "\nexpected:\n" << expected;
  } else {
    EXPECT_TRUE(torch::allclose(actual, expected, 1e-6, 1e-6))
        << what << "\nactual:\n" << actual << "\nexpected:\n" << expected;
  }
}

class LocalCommTest : public ::testing::TestWithParam<int> {
 protected:
  int world() const { return GetParam(); }
};

TEST_P(LocalCommTest, RanksAndBackend) {
  auto comms = LocalCommunicator::CreateGroup(world());
  ASSERT_EQ(static_cast<int>(comms.size()), world());
  for (int r = 0; r < world(); ++r) {
    EXPECT_EQ(comms[r]->rank(), r);
    EXPECT_EQ(comms[r]->world_size(), world());
    EXPECT_EQ(comms[r]->backend(), "local");
    EXPECT_EQ(comms[r]->timeout(), std::chrono::minutes(5));
  }
}

TEST_P(LocalCommTest, AllReduceSumAndAverage) {
  const int n = world();
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64}) {
    for (auto op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      for (int64_t numel : {1, 5, 1000}) {
        const std::string what = std::string(c10::toString(dtype)) + (op == ReduceOp::kSum ? " sum" : " average") +
                                 " numel " + std::to_string(numel) + " world " + std::to_string(n);
        const at::Tensor expected = Expected(n, numel, dtype, op);
        RunRanks(n, [&](Communicator& c) {
          at::Tensor t = Input(c.rank(), numel, dtype);
          Status st = c.AllReduce(t, op, "all_reduce test")->Wait();
          ASSERT_TRUE(st.ok()) << st.ToString();
          ExpectEqual(t, expected, what + " rank " + std::to_string(c.rank()));
        });
      }
    }
  }
}

TEST_P(LocalCommTest, AllReduceKeepsShape) {
  const int n = world();
  RunRanks(n, [&](Communicator& c) {
    at::Tensor t = torch::full({2, 3, 4}, c.rank() + 1.0, torch::kFloat32);
    ASSERT_TRUE(c.AllReduce(t, ReduceOp::kSum, "3d")->Wait().ok());
    ExpectEqual(t, torch::full({2, 3, 4}, n * (n + 1) / 2.0, torch::kFloat32), "3d all_reduce");
  });
}

TEST_P(LocalCommTest, BroadcastFromEveryRoot) {
  const int n = world();
  for (int root = n - 1; root >= 0; --root) {  // the non-zero roots first
    for (auto dtype : {torch::kFloat32, torch::kInt64}) {
      RunRanks(n, [&](Communicator& c) {
        at::Tensor t = Input(c.rank(), 17, dtype);
        Status st = c.Broadcast(t, root, "broadcast test")->Wait();
        ASSERT_TRUE(st.ok()) << st.ToString();
        ExpectEqual(t, Input(root, 17, dtype),
                    "broadcast from root " + std::to_string(root) + " at rank " + std::to_string(c.rank()));
      });
    }
  }
}

TEST_P(LocalCommTest, AllGather) {
  const int n = world();
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64}) {
    std::vector<at::Tensor> parts;
    for (int r = 0; r < n; ++r) parts.push_back(Input(r, 6, dtype));
    const at::Tensor expected = torch::cat(parts);
    RunRanks(n, [&](Communicator& c) {
      // Flat output from a 2-D input: only the element counts must agree.
      at::Tensor in = Input(c.rank(), 6, dtype).view({2, 3});
      at::Tensor out = torch::full({6 * n}, 99, dtype);
      Status st = c.AllGather(out, in, "all_gather test")->Wait();
      ASSERT_TRUE(st.ok()) << st.ToString();
      ExpectEqual(out, expected, "all_gather at rank " + std::to_string(c.rank()));
      // The input is left alone.
      ExpectEqual(in.reshape(-1), Input(c.rank(), 6, dtype), "all_gather input");
    });
  }
}

TEST_P(LocalCommTest, AllGatherScalars) {
  const int n = world();
  RunRanks(n, [&](Communicator& c) {
    at::Tensor in = torch::scalar_tensor(c.rank() * 10.0, torch::kFloat64);
    at::Tensor out = torch::zeros({n}, torch::kFloat64);
    ASSERT_TRUE(c.AllGather(out, in, "scalars")->Wait().ok());
    ExpectEqual(out, torch::arange(n, torch::kFloat64) * 10.0, "all_gather of scalars");
  });
}

TEST_P(LocalCommTest, ReduceScatterSumAndAverage) {
  const int n = world();
  const int64_t chunk = 5;
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64}) {
    for (auto op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      const at::Tensor full = Expected(n, chunk * n, dtype, op);
      RunRanks(n, [&](Communicator& c) {
        at::Tensor in = Input(c.rank(), chunk * n, dtype);
        at::Tensor out = torch::full({chunk}, 99, dtype);
        Status st = c.ReduceScatter(out, in, op, "reduce_scatter test")->Wait();
        ASSERT_TRUE(st.ok()) << st.ToString();
        ExpectEqual(out, full.narrow(0, c.rank() * chunk, chunk),
                    std::string(c10::toString(dtype)) + (op == ReduceOp::kSum ? " sum" : " average") + " rank " +
                        std::to_string(c.rank()));
      });
    }
  }
}

TEST_P(LocalCommTest, BarrierWaitsForEveryRank) {
  const int n = world();
  std::atomic<int> arrived{0};
  RunRanks(n, [&](Communicator& c) {
    std::this_thread::sleep_for(milliseconds(30 * c.rank()));  // arrive one after another
    arrived.fetch_add(1);
    Status st = c.Barrier("barrier test")->Wait();
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(arrived.load(), n) << "rank " << c.rank() << " left the barrier before every rank arrived";
  });
}

TEST_P(LocalCommTest, BackToBackCollectivesRunInIssueOrder) {
  const int n = world();
  constexpr int kChain = 8;    // dependent all-reduces on one tensor
  constexpr int kSingles = 40;  // independent ones on separate tensors
  RunRanks(n, [&](Communicator& c) {
    const int r = c.rank();
    std::vector<WorkPtr> works;
    // 1) A chain on one tensor: only the issue order gives n^k * S.
    at::Tensor chain = torch::full({4}, r + 1, torch::kInt64);
    for (int k = 0; k < kChain; ++k) works.push_back(c.AllReduce(chain, ReduceOp::kSum, "chain " + std::to_string(k)));
    // 2) Then broadcast it from the last rank, and gather it: each sees the chain's final value.
    works.push_back(c.Broadcast(chain, n - 1, "chain broadcast"));
    at::Tensor gathered = torch::zeros({4 * n}, torch::kInt64);
    works.push_back(c.AllGather(gathered, chain, "chain gather"));
    // 3) Many independent collectives of mixed kinds.
    std::vector<at::Tensor> singles;
    for (int i = 0; i < kSingles; ++i) {
      singles.push_back(torch::full({3}, static_cast<double>(i * 100 + r), torch::kFloat64));
      if (i % 3 == 0) {
        works.push_back(c.AllReduce(singles.back(), ReduceOp::kSum, "single " + std::to_string(i)));
      } else if (i % 3 == 1) {
        works.push_back(c.Broadcast(singles.back(), i % n, "single " + std::to_string(i)));
      } else {
        works.push_back(c.Barrier("single " + std::to_string(i)));
      }
    }
    // Wait newest first: the earlier ones must be done by then too.
    for (auto it = works.rbegin(); it != works.rend(); ++it) {
      Status st = (*it)->Wait();
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
    for (auto& w : works) EXPECT_TRUE(w->IsCompleted());

    int64_t s = n * (n + 1) / 2;
    for (int k = 1; k < kChain; ++k) s *= n;
    ExpectEqual(chain, torch::full({4}, s, torch::kInt64), "chain");
    ExpectEqual(gathered, torch::full({4 * n}, s, torch::kInt64), "gathered chain");
    for (int i = 0; i < kSingles; ++i) {
      double want = i * 100 + r;
      if (i % 3 == 0) want = n * i * 100.0 + n * (n - 1) / 2.0;
      if (i % 3 == 1) want = i * 100 + (i % n);
      ExpectEqual(singles[i], torch::full({3}, want, torch::kFloat64), "single " + std::to_string(i));
    }
  });
}

TEST_P(LocalCommTest, WaitFromAnotherThreadAndTwice) {
  const int n = world();
  RunRanks(n, [&](Communicator& c) {
    at::Tensor t = torch::ones({8}, torch::kFloat32);
    WorkPtr work = c.AllReduce(t, ReduceOp::kSum, "shared wait");
    Status from_thread;
    std::thread waiter([&] { from_thread = work->Wait(); });
    Status here = work->Wait();
    waiter.join();
    EXPECT_TRUE(here.ok()) << here.ToString();
    EXPECT_TRUE(from_thread.ok()) << from_thread.ToString();
    EXPECT_TRUE(work->Wait().ok());
    EXPECT_TRUE(work->IsCompleted());
    ExpectEqual(t, torch::full({8}, static_cast<float>(n), torch::kFloat32), "shared wait");
  });
}

// Wrong arguments fail at once, on the calling rank only, without a
// collective (the peers are not involved, so each rank may check alone).
TEST_P(LocalCommTest, ArgumentErrorsAreInvalidArgument) {
  const int n = world();
  RunRanks(n, [&](Communicator& c) {
    auto expect_invalid = [](const WorkPtr& work, const std::string& what) {
      EXPECT_TRUE(work->IsCompleted()) << what;
      Status st = work->Wait();
      EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << what << ": " << st.ToString();
    };
    at::Tensor matrix = torch::zeros({3, 4}, torch::kFloat32);
    expect_invalid(c.AllReduce(matrix.t(), ReduceOp::kSum, "t"), "non-contiguous all_reduce");
    expect_invalid(c.AllReduce(at::Tensor(), ReduceOp::kSum, "t"), "undefined all_reduce");
    expect_invalid(c.Broadcast(matrix, n, "t"), "broadcast root == world");
    expect_invalid(c.Broadcast(matrix, -1, "t"), "broadcast root -1");
    expect_invalid(c.Broadcast(matrix.t(), 0, "t"), "non-contiguous broadcast");
    expect_invalid(c.AllGather(torch::zeros({4 * n + 1}), torch::zeros({4}), "t"), "all_gather output too big");
    expect_invalid(c.AllGather(torch::zeros({4 * n}, torch::kFloat64), torch::zeros({4}), "t"),
                   "all_gather dtype mismatch");
    expect_invalid(c.AllGather(torch::zeros({4 * n}), matrix.t(), "t"), "all_gather non-contiguous input");
    expect_invalid(c.ReduceScatter(torch::zeros({3}), torch::zeros({3 * n + 1}), ReduceOp::kSum, "t"),
                   "reduce_scatter input too big");
    expect_invalid(c.ReduceScatter(torch::zeros({1}), torch::zeros({3 * n}), ReduceOp::kSum, "t"),
                   "reduce_scatter output too small");
    expect_invalid(c.ReduceScatter(torch::zeros({3}, torch::kInt64), torch::zeros({3 * n}), ReduceOp::kSum, "t"),
                   "reduce_scatter dtype mismatch");
    // The group is still in step: a real collective afterwards works.
    at::Tensor t = torch::ones({2});
    Status st = c.AllReduce(t, ReduceOp::kSum, "after errors")->Wait();
    ASSERT_TRUE(st.ok()) << st.ToString();
    ExpectEqual(t, torch::full({2}, static_cast<float>(n)), "all_reduce after argument errors");
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, LocalCommTest, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& info) { return "world" + std::to_string(info.param); });

// Ranks that disagree on the shape: the combine fails, and every rank gets
// that failure at once rather than waiting out the timeout.
TEST(LocalCommErrors, MismatchedShapesFailOnEveryRankAtOnce) {
  for (int n = 2; n <= 4; ++n) {
    RunRanks(n, [&](Communicator& c) {
      at::Tensor t = torch::ones({4 + c.rank()});
      const auto start = std::chrono::steady_clock::now();
      Status st = c.AllReduce(t, ReduceOp::kSum, "mismatch")->Wait();
      EXPECT_EQ(st.code(), StatusCode::kInternal) << st.ToString();
      EXPECT_THAT(st.message(), HasSubstr("all_reduce"));
      EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(2000));
      // The group stays in step after the failure.
      at::Tensor ok = torch::ones({2});
      ASSERT_TRUE(c.AllReduce(ok, ReduceOp::kSum, "after mismatch")->Wait().ok());
      ExpectEqual(ok, torch::full({2}, static_cast<float>(n)), "all_reduce after a failed one");
    });
  }
}

// A rank that never joins: the others' Wait gives up at the timeout with
// DeadlineExceeded naming their rank, the collective and its tag.
class LocalCommTimeoutTest : public ::testing::TestWithParam<int> {};

TEST_P(LocalCommTimeoutTest, MissingRankGivesDeadlineExceeded) {
  const int n = GetParam();
  constexpr int kAbsent = 1;
  RunRanks(
      n,
      [&](Communicator& c) {
        if (c.rank() == kAbsent) return;  // never joins
        at::Tensor t = torch::ones({4});
        const auto start = std::chrono::steady_clock::now();
        Status st = c.AllReduce(t, ReduceOp::kSum, "step 7 bucket 3")->Wait();
        const auto elapsed = std::chrono::steady_clock::now() - start;
        EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.ToString();
        EXPECT_THAT(st.message(), HasSubstr("rank " + std::to_string(c.rank()) + " of " + std::to_string(n)));
        EXPECT_THAT(st.message(), HasSubstr("all_reduce"));
        EXPECT_THAT(st.message(), HasSubstr("did not finish in time"));
        EXPECT_THAT(st.message(), HasSubstr("'step 7 bucket 3'"));
        EXPECT_GE(elapsed, milliseconds(190));
        EXPECT_LT(elapsed, milliseconds(5000));  // bounded, with room for a loaded machine
      },
      milliseconds(200));
}

TEST_P(LocalCommTimeoutTest, MissingRankInBarrier) {
  const int n = GetParam();
  RunRanks(
      n,
      [&](Communicator& c) {
        if (c.rank() == n - 1) return;
        const auto start = std::chrono::steady_clock::now();
        Status st = c.Barrier("end of epoch 3")->Wait();
        EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.ToString();
        EXPECT_THAT(st.message(), HasSubstr("rank " + std::to_string(c.rank())));
        EXPECT_THAT(st.message(), HasSubstr("'end of epoch 3'"));
        EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
      },
      milliseconds(200));
}

INSTANTIATE_TEST_SUITE_P(Worlds, LocalCommTimeoutTest, ::testing::Values(2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& info) { return "world" + std::to_string(info.param); });

// The deadline counts from the issue: a collective queued behind a slow one
// still gives up at its own issue time + timeout, not later.
TEST(LocalCommTimeout, DeadlineCountsFromIssue) {
  RunRanks(
      2,
      [&](Communicator& c) {
        if (c.rank() == 1) return;
        const auto start = std::chrono::steady_clock::now();
        WorkPtr first = c.Barrier("first");
        WorkPtr second = c.Barrier("second");
        EXPECT_EQ(second->Wait().code(), StatusCode::kDeadlineExceeded);
        EXPECT_EQ(first->Wait().code(), StatusCode::kDeadlineExceeded);
        EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
      },
      milliseconds(200));
}

// A late rank is not an error when it arrives within the timeout.
TEST(LocalCommTimeout, LateRankWithinTimeoutIsFine) {
  RunRanks(
      3,
      [&](Communicator& c) {
        if (c.rank() == 2) std::this_thread::sleep_for(milliseconds(100));
        at::Tensor t = torch::full({3}, c.rank() + 1.0);
        Status st = c.AllReduce(t, ReduceOp::kSum, "late")->Wait();
        ASSERT_TRUE(st.ok()) << st.ToString();
        ExpectEqual(t, torch::full({3}, 6.0f), "late all_reduce");
      },
      milliseconds(2000));
}

}  // namespace
}  // namespace chorus::comm
