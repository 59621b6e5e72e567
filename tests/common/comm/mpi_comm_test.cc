// MpiCommunicator under mpiexec (ctest runs it with 1, 2 and 3 ranks): every
// collective against values computed locally from rank-dependent inputs,
// argument errors, ordering, and the timeout when a rank is late.
//
// A plain main rather than GoogleTest: every rank runs every check; after each
// test the ranks agree on the failure count over MPI_COMM_WORLD (which the
// communicator under test never uses, as it works on its own duplicate), rank
// 0 prints one line per test, and the exit code is the verdict. On failure the
// job ends with MPI_Abort, so a rank stuck in a collective cannot hang it.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iterator>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "common/comm/factory.h"
#include "common/comm/mpi_communicator.h"
#include "common/comm/mpi_runtime.h"
#include "tests/common/comm/rank_test_harness.h"

namespace chorus::comm {
namespace {

using std::chrono::milliseconds;

using namespace ::chorus::comm::testing;

// Element i of rank r: a + b*r + c*i, with negative values so integer averages
// exercise truncation toward zero.
at::Tensor Input(int rank, int64_t n, at::ScalarType dtype) {
  auto i = torch::arange(n, torch::kFloat64);
  return (-7.0 + 3.0 * rank + 2.0 * (i.remainder(1000))).to(dtype);
}

at::Tensor Expected(int64_t n, at::ScalarType dtype, ReduceOp op) {
  auto sum = torch::zeros({n}, torch::kFloat64);
  for (int r = 0; r < g_world; ++r) sum += Input(r, n, torch::kFloat64);
  if (op == ReduceOp::kAverage) {
    if (c10::isIntegralType(dtype, false)) return sum.to(torch::kInt64).div(g_world, "trunc").to(dtype);
    return (sum / g_world).to(dtype);
  }
  return sum.to(dtype);
}

std::string Name(at::ScalarType dtype, ReduceOp op) {
  return std::string(c10::toString(dtype)) + (op == ReduceOp::kSum ? " sum" : " average");
}

// ---------------------------------------------------------------------------

void TestWorld(Communicator& c, const WorldInfo& info) {
  int mpi_rank = -1, mpi_size = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &mpi_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &mpi_size);
  CHECK_TRUE(info.rank == mpi_rank && info.world_size == mpi_size, "MpiRuntime::Initialize world info");
  CHECK_TRUE(info.local_rank == mpi_rank, "local_rank on a single host");
  CHECK_TRUE(c.rank() == mpi_rank, "communicator rank");
  CHECK_TRUE(c.world_size() == mpi_size, "communicator world size");
  CHECK_TRUE(c.backend() == "mpi", "backend is mpi, got " + c.backend());
  auto again = MpiRuntime::Initialize();
  CHECK_TRUE(again.ok() && again->rank == info.rank, "second Initialize returns the same world");
  CHECK_TRUE(MpiRuntime::initialized(), "MpiRuntime::initialized");
}

void TestFactory(Communicator&, const WorldInfo&) {
  CommunicatorOptions options;
  options.timeout = milliseconds(1234);
  auto created = CreateCommunicator(options);
  CHECK_OK(created.status(), "CreateCommunicator");
  if (created.ok()) {
    CHECK_TRUE((*created)->timeout() == milliseconds(1234), "timeout from the options");
    CHECK_TRUE((*created)->backend() == "mpi", "cpu gives mpi");
    // A second communicator works beside the first (its own MPI_Comm).
    at::Tensor t = torch::full({3}, g_rank + 1.0);
    CHECK_OK((*created)->AllReduce(t, ReduceOp::kSum, "second communicator")->Wait(), "all_reduce");
    CheckTensorEq(t, torch::full({3}, g_world * (g_world + 1) / 2.0), "second communicator all_reduce");
  }
  if (!NcclCompiledIn()) {
    CommunicatorOptions cuda;
    cuda.device = c10::Device(c10::kCUDA, 0);
    CHECK_CODE(CreateCommunicator(cuda).status(), StatusCode::kFailedPrecondition, "cuda without NCCL");
  }
}

void TestAllReduce(Communicator& c, const WorldInfo&) {
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kInt32}) {
    for (auto op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      for (int64_t n : {1, 7, 1000, 300000}) {
        at::Tensor t = Input(g_rank, n, dtype);
        const std::string what = Name(dtype, op) + " numel " + std::to_string(n);
        CHECK_OK(c.AllReduce(t, op, "all_reduce " + what)->Wait(), what);
        CheckTensorEq(t, Expected(n, dtype, op), "all_reduce " + what);
      }
    }
  }
  // Multi-dimensional, and empty.
  at::Tensor cube = torch::full({2, 3, 4}, g_rank + 1.0, torch::kFloat32);
  CHECK_OK(c.AllReduce(cube, ReduceOp::kSum, "cube")->Wait(), "3-d all_reduce");
  CheckTensorEq(cube, torch::full({2, 3, 4}, g_world * (g_world + 1) / 2.0, torch::kFloat32), "3-d all_reduce");
  at::Tensor empty = torch::zeros({0}, torch::kFloat32);
  CHECK_OK(c.AllReduce(empty, ReduceOp::kSum, "empty")->Wait(), "empty all_reduce");
}

void TestBroadcast(Communicator& c, const WorldInfo&) {
  for (int root = g_world - 1; root >= 0; --root) {  // non-zero roots first
    for (auto dtype : {torch::kFloat32, torch::kInt64, torch::kUInt8}) {
      at::Tensor t = Input(g_rank, 33, torch::kFloat64).abs().to(dtype);
      CHECK_OK(c.Broadcast(t, root, "broadcast")->Wait(), "broadcast from " + std::to_string(root));
      CheckTensorEq(t, Input(root, 33, torch::kFloat64).abs().to(dtype),
                    "broadcast " + std::string(c10::toString(dtype)) + " from root " + std::to_string(root));
    }
  }
}

void TestAllGather(Communicator& c, const WorldInfo&) {
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64}) {
    for (int64_t n : {1, 6, 50000}) {
      std::vector<at::Tensor> parts;
      for (int r = 0; r < g_world; ++r) parts.push_back(Input(r, n, dtype));
      at::Tensor in = Input(g_rank, n, dtype);
      at::Tensor out = torch::full({n * g_world}, 99, dtype);
      CHECK_OK(c.AllGather(out, in, "all_gather")->Wait(), "all_gather");
      CheckTensorEq(out, torch::cat(parts), "all_gather " + std::string(c10::toString(dtype)) + " n " + std::to_string(n));
      CheckTensorEq(in, Input(g_rank, n, dtype), "all_gather leaves its input alone");
    }
  }
  // Shapes may differ as long as the element counts agree.
  at::Tensor in = Input(g_rank, 6, torch::kFloat32).view({2, 3});
  at::Tensor out = torch::zeros({g_world, 2, 3}, torch::kFloat32);
  CHECK_OK(c.AllGather(out, in, "all_gather 2d")->Wait(), "all_gather 2-d");
  for (int r = 0; r < g_world; ++r) CheckTensorEq(out[r], Input(r, 6, torch::kFloat32).view({2, 3}), "all_gather 2-d row");
}

void TestReduceScatter(Communicator& c, const WorldInfo&) {
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64}) {
    for (auto op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      for (int64_t chunk : {1, 5, 40000}) {
        at::Tensor in = Input(g_rank, chunk * g_world, dtype);
        at::Tensor out = torch::full({chunk}, 99, dtype);
        const std::string what = Name(dtype, op) + " chunk " + std::to_string(chunk);
        CHECK_OK(c.ReduceScatter(out, in, op, "reduce_scatter " + what)->Wait(), what);
        CheckTensorEq(out, Expected(chunk * g_world, dtype, op).narrow(0, g_rank * chunk, chunk),
                      "reduce_scatter " + what);
      }
    }
  }
}

void TestBarrier(Communicator& c, const WorldInfo&) {
  // Rank r arrives r*100 ms late; nobody leaves before the last one arrives.
  // Times are on the steady clock (CLOCK_MONOTONIC, shared by the processes
  // of one host; Open MPI's MPI_Wtime counts from each process's start).
  auto now = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
  std::this_thread::sleep_for(milliseconds(100 * g_rank));
  const double arrive = now();
  CHECK_OK(c.Barrier("barrier")->Wait(), "barrier");
  const double leave = now();
  double last_arrival = 0;
  MPI_Allreduce(&arrive, &last_arrival, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  CHECK_TRUE(leave + 0.005 >= last_arrival, "left the barrier before the last rank arrived");
}

void TestBackToBack(Communicator& c, const WorldInfo&) {
  constexpr int kChain = 8;
  constexpr int kSingles = 60;
  std::vector<WorkPtr> works;
  // A chain of dependent all-reduces on one tensor: only issue order gives S * n^(k-1).
  at::Tensor chain = torch::full({5}, g_rank + 1, torch::kInt64);
  for (int k = 0; k < kChain; ++k) works.push_back(c.AllReduce(chain, ReduceOp::kSum, "chain " + std::to_string(k)));
  works.push_back(c.Broadcast(chain, g_world - 1, "chain broadcast"));
  at::Tensor gathered = torch::zeros({5 * g_world}, torch::kInt64);
  works.push_back(c.AllGather(gathered, chain, "chain gather"));
  std::vector<at::Tensor> singles;
  std::vector<at::Tensor> scattered;
  for (int i = 0; i < kSingles; ++i) {
    singles.push_back(torch::full({3 * g_world}, static_cast<double>(i * 100 + g_rank), torch::kFloat64));
    switch (i % 4) {
      case 0: works.push_back(c.AllReduce(singles.back(), ReduceOp::kSum, "single " + std::to_string(i))); break;
      case 1: works.push_back(c.Broadcast(singles.back(), i % g_world, "single " + std::to_string(i))); break;
      case 2: works.push_back(c.Barrier("single " + std::to_string(i))); break;
      case 3:
        scattered.push_back(torch::zeros({3}, torch::kFloat64));
        works.push_back(c.ReduceScatter(scattered.back(), singles.back(), ReduceOp::kAverage, "single " + std::to_string(i)));
        break;
    }
  }
  for (auto it = works.rbegin(); it != works.rend(); ++it) CHECK_OK((*it)->Wait(), "back-to-back collective");
  for (auto& w : works) CHECK_TRUE(w->IsCompleted(), "completed after Wait");

  int64_t s = g_world * (g_world + 1) / 2;
  for (int k = 1; k < kChain; ++k) s *= g_world;
  CheckTensorEq(chain, torch::full({5}, s, torch::kInt64), "chain");
  CheckTensorEq(gathered, torch::full({5 * g_world}, s, torch::kInt64), "gathered chain");
  int q = 0;
  for (int i = 0; i < kSingles; ++i) {
    double want = i * 100 + g_rank;
    if (i % 4 == 0) want = g_world * i * 100.0 + g_world * (g_world - 1) / 2.0;
    if (i % 4 == 1) want = i * 100 + (i % g_world);
    CheckTensorEq(singles[i], torch::full({3 * g_world}, want, torch::kFloat64), "single " + std::to_string(i));
    if (i % 4 == 3) {
      CheckTensorEq(scattered[q++], torch::full({3}, i * 100 + (g_world - 1) / 2.0, torch::kFloat64),
                    "scattered " + std::to_string(i));
    }
  }
}

void TestArgumentErrors(Communicator& c, const WorldInfo&) {
  const int n = g_world;
  auto expect_invalid = [](const WorkPtr& work, const std::string& what) {
    CHECK_TRUE(work->IsCompleted(), what + ": fails at once");
    CHECK_CODE(work->Wait(), StatusCode::kInvalidArgument, what);
  };
  at::Tensor matrix = torch::zeros({3, 4}, torch::kFloat32);
  expect_invalid(c.AllReduce(matrix.t(), ReduceOp::kSum, "e"), "non-contiguous all_reduce");
  expect_invalid(c.AllReduce(matrix.slice(1, 0, 4, 2), ReduceOp::kSum, "e"), "strided all_reduce");
  expect_invalid(c.AllReduce(at::Tensor(), ReduceOp::kSum, "e"), "undefined all_reduce");
  expect_invalid(c.AllReduce(torch::zeros({4}, torch::kFloat16), ReduceOp::kSum, "e"), "float16 all_reduce");
  expect_invalid(c.AllReduce(torch::zeros({4}, torch::kBool), ReduceOp::kSum, "e"), "bool all_reduce");
  expect_invalid(c.Broadcast(matrix, n, "e"), "broadcast root == world size");
  expect_invalid(c.Broadcast(matrix, -1, "e"), "broadcast root -1");
  expect_invalid(c.Broadcast(matrix.t(), 0, "e"), "non-contiguous broadcast");
  expect_invalid(c.AllGather(torch::zeros({4 * n + 1}), torch::zeros({4}), "e"), "all_gather output too big");
  expect_invalid(c.AllGather(torch::zeros({4 * n - 1}), torch::zeros({4}), "e"), "all_gather output too small");
  expect_invalid(c.AllGather(torch::zeros({4 * n}, torch::kFloat64), torch::zeros({4}), "e"), "all_gather dtype mismatch");
  expect_invalid(c.AllGather(torch::zeros({12 * n}), matrix.t(), "e"), "all_gather non-contiguous input");
  expect_invalid(c.AllGather(torch::zeros({24 * n}).slice(0, 0, 24 * n, 2), matrix, "e"),
                 "all_gather non-contiguous output");
  expect_invalid(c.ReduceScatter(torch::zeros({3}), torch::zeros({3 * n + 1}), ReduceOp::kSum, "e"),
                 "reduce_scatter input too big");
  expect_invalid(c.ReduceScatter(torch::zeros({2}), torch::zeros({3 * n}), ReduceOp::kSum, "e"),
                 "reduce_scatter output too small");
  expect_invalid(c.ReduceScatter(torch::zeros({3}, torch::kInt64), torch::zeros({3 * n}), ReduceOp::kSum, "e"),
                 "reduce_scatter dtype mismatch");
  expect_invalid(c.ReduceScatter(torch::zeros({4, 3}).t(), torch::zeros({12 * n}), ReduceOp::kSum, "e"),
                 "reduce_scatter non-contiguous output");
  // Nothing reached MPI: the ranks are still in step.
  at::Tensor t = torch::ones({2});
  CHECK_OK(c.AllReduce(t, ReduceOp::kSum, "after errors")->Wait(), "all_reduce after argument errors");
  CheckTensorEq(t, torch::full({2}, static_cast<float>(n)), "all_reduce after argument errors");
}

// Rank 1 skips the start of a collective: it arrives 6 s late with a 1 s
// timeout. Every other rank's Wait gives up after ~1 s with DeadlineExceeded
// naming its rank, the collective and the tag; its queue thread keeps the MPI
// request alive, so once rank 1 does join, the collective completes and the
// job ends cleanly (a request that never completes would leave the queue
// thread polling and ~MpiCommunicator waiting on it).
void TestTimeout(Communicator& c, const WorldInfo&) {
  if (g_world < 2) return;
  const auto saved = c.timeout();
  c.set_timeout(milliseconds(1000));
  MPI_Barrier(MPI_COMM_WORLD);
  const std::string tag = "step 12 bucket 3";
  at::Tensor t = torch::full({1024}, g_rank + 1.0, torch::kFloat32);
  if (g_rank == 1) {
    std::this_thread::sleep_for(milliseconds(6000));
    CHECK_OK(c.AllReduce(t, ReduceOp::kSum, tag)->Wait(), "the late rank's all_reduce");
  } else {
    const auto start = std::chrono::steady_clock::now();
    WorkPtr work = c.AllReduce(t, ReduceOp::kSum, tag);
    Status st = work->Wait();
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK_CODE(st, StatusCode::kDeadlineExceeded, "all_reduce with a late peer");
    const std::string me = "rank " + std::to_string(g_rank) + " of " + std::to_string(g_world) + " (mpi)";
    CHECK_TRUE(st.message().find(me) != std::string::npos, "message names the rank: " + st.message());
    CHECK_TRUE(st.message().find("all_reduce '" + tag + "'") != std::string::npos,
               "message names the collective and tag: " + st.message());
    CHECK_TRUE(waited >= 0.95 && waited < 5.0, "gave up after " + std::to_string(waited) + " s, want ~1 s");
    CHECK_TRUE(!work->IsCompleted(), "not completed while the peer is still away");
    // The late rank arrives; the collective then finishes with the right sum.
    for (int i = 0; i < 1000 && !work->IsCompleted(); ++i) std::this_thread::sleep_for(milliseconds(10));
    CHECK_TRUE(work->IsCompleted(), "completes once the late rank joins");
    CHECK_OK(work->Wait(), "Wait after the late rank joined");
    CheckTensorEq(t, torch::full({1024}, g_world * (g_world + 1) / 2.0, torch::kFloat32), "late all_reduce result");
  }
  c.set_timeout(saved);
  // Everyone is in step again.
  at::Tensor after = torch::ones({3});
  CHECK_OK(c.AllReduce(after, ReduceOp::kSum, "after timeout")->Wait(), "all_reduce after the timeout");
  CheckTensorEq(after, torch::full({3}, static_cast<float>(g_world)), "all_reduce after the timeout");
}

}  // namespace
}  // namespace chorus::comm

int main() {
  using namespace chorus::comm;
  auto world = chorus::comm::testing::StartWorld();
  if (!world) return 1;
  at::set_num_threads(1);  // ranks share two cores

  CommunicatorOptions options;
  options.timeout = std::chrono::seconds(20);  // a broken test fails instead of hanging
  auto created = CreateCommunicator(options);
  if (!created.ok()) {
    std::cerr << "rank " << world->rank << ": CreateCommunicator: " << created.status().ToString() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::unique_ptr<Communicator> comm = std::move(created).value();

  const std::vector<chorus::comm::testing::Case> cases = {
      {"World", TestWorld},
      {"Factory", TestFactory},
      {"AllReduce", TestAllReduce},
      {"Broadcast", TestBroadcast},
      {"AllGather", TestAllGather},
      {"ReduceScatter", TestReduceScatter},
      {"Barrier", TestBarrier},
      {"BackToBack", TestBackToBack},
      {"ArgumentErrors", TestArgumentErrors},
      {"Timeout", TestTimeout},
  };
  const int failed_tests = chorus::comm::testing::RunCases(cases, *comm, *world);
  if (failed_tests != 0) {
    // A failed collective may have left a request pending; do not risk a hang
    // in the communicator's destructor or in MPI_Finalize.
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  comm.reset();
  MpiRuntime::Finalize();
  return 0;
}
