// NcclCommunicator on real GPUs, under mpiexec (label gpu; built only with
// NCCL). Each rank takes GPU local_rank; on a machine with one GPU ctest runs
// it with one rank, and the same binary runs with N ranks on N GPUs.
//
// Every collective is checked against a reference computed on the CPU from
// every rank's inputs (and, for the types MPI has, against MpiCommunicator
// doing the same collective on CPU tensors), for every dtype NCCL takes.
// Then the pieces data-parallel training builds on NCCL: the GradientReducer
// averaging real gradients of a model (against gradients computed on a CPU
// copy of the model for every rank's input), ZeRO-1 sharded Adam (against
// the replicated optimizer on the CPU), and the parameter broadcast. Last,
// the timeout: a collective held back on its stream ends with
// DeadlineExceeded within the timeout and the communicator is aborted.
#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <ATen/CPUGeneratorImpl.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/torch.h>

#include "common/comm/factory.h"
#include "common/comm/mpi_runtime.h"
#include "common/models/model.h"
#include "tests/common/comm/rank_test_harness.h"
#include "worker/train/flat_optimizer.h"
#include "worker/train/gradient_reducer.h"
#include "worker/train/model_sync.h"

namespace chorus::comm {
namespace {

using namespace ::chorus::comm::testing;
using std::chrono::milliseconds;

c10::Device g_device = c10::Device(c10::kCUDA, 0);
std::unique_ptr<Communicator> g_mpi;  // the CPU reference backend

// Element i of rank r, exactly representable in every dtype tested for small
// worlds (integers below 256 in magnitude).
at::Tensor Input(int rank, int64_t n, at::ScalarType dtype) {
  auto i = torch::arange(n, torch::kFloat64);
  return (-7.0 + 3.0 * rank + (i.remainder(40))).to(dtype);
}

at::Tensor Expected(int64_t n, at::ScalarType dtype, ReduceOp op) {
  auto sum = torch::zeros({n}, torch::kFloat64);
  for (int r = 0; r < g_world; ++r) sum += Input(r, n, dtype).to(torch::kFloat64);
  if (op == ReduceOp::kAverage) {
    if (c10::isIntegralType(dtype, false)) return sum.to(torch::kInt64).div(g_world, "trunc").to(dtype);
    return (sum / g_world).to(dtype);
  }
  return sum.to(dtype);
}

bool MpiHasType(at::ScalarType t) {
  return t == torch::kFloat32 || t == torch::kFloat64 || t == torch::kInt32 || t == torch::kInt64;
}

double Tolerance(at::ScalarType t) { return t == torch::kBFloat16 ? 1e-2 : t == torch::kHalf ? 1e-3 : 1e-6; }

const at::ScalarType kTypes[] = {torch::kFloat32, torch::kFloat64, torch::kHalf, torch::kBFloat16, torch::kInt32,
                                 torch::kInt64};

void TestWorld(Communicator& c, const WorldInfo& info) {
  CHECK_TRUE(c.backend() == "nccl", "backend is nccl, got " + c.backend());
  CHECK_TRUE(c.rank() == info.rank && c.world_size() == info.world_size, "rank and world size from MPI");
  CHECK_TRUE(NcclCompiledIn(), "NcclCompiledIn");
}

void TestAllReduce(Communicator& c, const WorldInfo&) {
  for (int64_t n : {int64_t{7}, int64_t{(1 << 20) + 3}}) {
    for (auto dtype : kTypes) {
      for (auto op : {ReduceOp::kSum, ReduceOp::kAverage}) {
        const std::string what = std::string(c10::toString(dtype)) + (op == ReduceOp::kSum ? " sum" : " avg") +
                                 " n=" + std::to_string(n);
        at::Tensor t = Input(g_rank, n, dtype).to(g_device);
        CHECK_OK(c.AllReduce(t, op, "all_reduce " + what)->Wait(), what);
        CheckTensorEq(t, Expected(n, dtype, op), "nccl all_reduce " + what, Tolerance(dtype), Tolerance(dtype));
        if (MpiHasType(dtype)) {
          at::Tensor cpu = Input(g_rank, n, dtype);
          CHECK_OK(g_mpi->AllReduce(cpu, op, "mpi " + what)->Wait(), "mpi " + what);
          CheckTensorEq(t, cpu, "nccl against mpi, " + what);
        }
      }
    }
  }
}

void TestBroadcast(Communicator& c, const WorldInfo&) {
  for (int root = 0; root < g_world; ++root) {
    for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kInt64, torch::kUInt8}) {
      at::Tensor t = Input(g_rank, 1000, dtype).to(g_device);
      CHECK_OK(c.Broadcast(t, root, "broadcast")->Wait(), "broadcast");
      CheckTensorEq(t, Input(root, 1000, dtype), "broadcast from rank " + std::to_string(root));
    }
  }
}

void TestAllGather(Communicator& c, const WorldInfo&) {
  for (auto dtype : kTypes) {
    const int64_t n = 4099;
    at::Tensor out = torch::full({g_world * n}, -1, torch::TensorOptions().dtype(dtype).device(g_device));
    CHECK_OK(c.AllGather(out, Input(g_rank, n, dtype).to(g_device), "all_gather")->Wait(), "all_gather");
    std::vector<at::Tensor> parts;
    for (int r = 0; r < g_world; ++r) parts.push_back(Input(r, n, dtype));
    CheckTensorEq(out, torch::cat(parts), std::string("all_gather ") + c10::toString(dtype));
  }
}

void TestReduceScatter(Communicator& c, const WorldInfo&) {
  for (auto dtype : kTypes) {
    for (auto op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      const int64_t n = 1031;
      at::Tensor in = Input(g_rank, g_world * n, dtype).to(g_device);
      at::Tensor out = torch::empty({n}, torch::TensorOptions().dtype(dtype).device(g_device));
      CHECK_OK(c.ReduceScatter(out, in, op, "reduce_scatter")->Wait(), "reduce_scatter");
      at::Tensor want = Expected(g_world * n, dtype, op).narrow(0, g_rank * n, n);
      CheckTensorEq(out, want, std::string("reduce_scatter ") + c10::toString(dtype), Tolerance(dtype),
                    Tolerance(dtype));
    }
  }
}

// Collectives queue behind the caller's stream and later work on it sees
// their results: 40 all-reduces in flight, each of a tensor the default
// stream has just written, then each result read by the default stream.
void TestStreamOrdering(Communicator& c, const WorldInfo&) {
  std::vector<at::Tensor> tensors;
  std::vector<WorkPtr> works;
  for (int i = 0; i < 40; ++i) {
    at::Tensor t = torch::ones({1 << 16}, torch::TensorOptions().device(g_device)).mul_(i + g_rank);
    works.push_back(c.AllReduce(t, ReduceOp::kSum, "back to back " + std::to_string(i)));
    tensors.push_back(t);
  }
  for (int i = 0; i < 40; ++i) {
    CHECK_OK(works[i]->Wait(), "wait " + std::to_string(i));
    at::Tensor plus_one = tensors[i] + 1;  // queued on the default stream after Wait
    const double want = g_world * i + g_world * (g_world - 1) / 2.0 + 1;
    CheckTensorEq(plus_one, torch::full({1 << 16}, want), "ordered result " + std::to_string(i));
  }
  CHECK_OK(c.Barrier("barrier")->Wait(), "barrier");
}

void TestArgumentErrors(Communicator& c, const WorldInfo&) {
  CHECK_CODE(c.AllReduce(torch::ones({4}), ReduceOp::kSum, "cpu tensor")->Wait(), StatusCode::kInvalidArgument,
             "a CPU tensor");
  at::Tensor wide = torch::ones({4, 4}, torch::TensorOptions().device(g_device)).t();
  CHECK_CODE(c.AllReduce(wide, ReduceOp::kSum, "transposed")->Wait(), StatusCode::kInvalidArgument,
             "a non-contiguous tensor");
  at::Tensor flags = torch::ones({4}, torch::TensorOptions().dtype(torch::kBool).device(g_device));
  CHECK_CODE(c.AllReduce(flags, ReduceOp::kSum, "bool")->Wait(), StatusCode::kInvalidArgument, "a bool tensor");
  at::Tensor out = torch::empty({3}, torch::TensorOptions().device(g_device));
  CHECK_CODE(c.AllGather(out, torch::ones({2}, torch::TensorOptions().device(g_device)), "sizes")->Wait(),
             StatusCode::kInvalidArgument, "all_gather sizes");
  // Refused arguments queue nothing: the next collective is fine.
  at::Tensor t = torch::ones({4}, torch::TensorOptions().device(g_device));
  CHECK_OK(c.AllReduce(t, ReduceOp::kSum, "after errors")->Wait(), "all_reduce after refused calls");
  CheckTensorEq(t, torch::full({4}, static_cast<float>(g_world)), "all_reduce after refused calls");
}

// A small model: every rank computes gradients on its own batch; the reducer
// must leave every rank with the average, as computed on the CPU.
void TestGradientReducer(Communicator& c, const WorldInfo&) {
  config::ModelSpec spec;
  spec.name = "tc_resnet";
  spec.width = 8;
  spec.dropout = 0;
  spec.norm = "none";
  torch::manual_seed(11);
  auto cpu_model = models::CreateModel(spec, {50, 20, 5}).value();
  torch::manual_seed(11);
  auto gpu_model = models::CreateModel(spec, {50, 20, 5}).value();
  gpu_model->to(g_device);
  auto batch = [](int rank) {
    at::Generator g = at::detail::createCPUGenerator(100 + rank);
    return std::make_pair(torch::randn({6, 50, 20}, g), torch::randint(0, 5, {6}, g, torch::kInt64));
  };
  // CPU reference: the mean over ranks of each rank's gradients.
  std::vector<at::Tensor> expected;
  for (int r = 0; r < g_world; ++r) {
    cpu_model->zero_grad();
    auto [x, y] = batch(r);
    torch::nn::functional::cross_entropy(cpu_model->forward(x), y).backward();
    auto params = cpu_model->parameters();
    for (size_t i = 0; i < params.size(); ++i) {
      at::Tensor g = params[i].grad().detach().clone() / g_world;
      if (r == 0) expected.push_back(g);
      else expected[i] += g;
    }
  }
  train::ReducerOptions ro;
  ro.first_bucket_bytes = 4096;  // several buckets
  ro.bucket_bytes = 16384;
  train::GradientReducer reducer(gpu_model->parameters(), c, ro);
  CHECK_TRUE(reducer.num_buckets() > 2, "several buckets");
  for (int step = 1; step <= 2; ++step) {
    for (auto& p : gpu_model->parameters()) p.mutable_grad() = at::Tensor();
    reducer.Prepare(/*sync=*/true, step);
    auto [x, y] = batch(g_rank);
    torch::nn::functional::cross_entropy(gpu_model->forward(x.to(g_device)), y.to(g_device)).backward();
    CHECK_OK(reducer.Finish(), "reducer.Finish");
    auto params = gpu_model->parameters();
    for (size_t i = 0; i < params.size(); ++i)
      CheckTensorEq(params[i].grad(), expected[i], "averaged gradient " + std::to_string(i), 1e-4, 1e-5);
  }
}

// ZeRO-1 on the GPU (reduce-scatter, sharded Adam, all-gather) against the
// replicated optimizer on the CPU fed the averaged gradients.
void TestShardedOptimizer(Communicator& c, const WorldInfo&) {
  config::OptimizerSpec spec;
  spec.kind = "adam";
  spec.lr = 0.01;
  spec.weight_decay = 0.01;
  at::Generator g = at::detail::createCPUGenerator(5);
  std::vector<at::Tensor> cpu_params = {torch::randn({33, 7}, g), torch::randn({101}, g), torch::randn({3, 3, 3}, g)};
  std::vector<at::Tensor> gpu_params;
  for (auto& p : cpu_params) {
    p.set_requires_grad(true);
    gpu_params.push_back(p.detach().to(g_device).set_requires_grad(true));
  }
  auto sharded = train::FlatOptimizer::Create(gpu_params, spec, &c, /*shard=*/true).value();
  auto replicated = train::FlatOptimizer::Create(cpu_params, spec, nullptr, /*shard=*/false).value();
  for (int step = 1; step <= 3; ++step) {
    for (size_t i = 0; i < cpu_params.size(); ++i) {
      at::Tensor mean = torch::zeros_like(cpu_params[i]);
      for (int r = 0; r < g_world; ++r) {
        at::Generator gr = at::detail::createCPUGenerator(1000 * step + 10 * r + i);
        at::Tensor grad = torch::randn(cpu_params[i].sizes(), gr);
        mean += grad / g_world;
        if (r == g_rank) gpu_params[i].mutable_grad() = grad.to(g_device);
      }
      cpu_params[i].mutable_grad() = mean;
    }
    CHECK_OK(sharded->Step(0.01, "zero step " + std::to_string(step)), "sharded step");
    CHECK_OK(replicated->Step(0.01, "replicated step"), "replicated step");
    for (size_t i = 0; i < cpu_params.size(); ++i)
      CheckTensorEq(gpu_params[i].detach(), cpu_params[i].detach(), "parameter " + std::to_string(i), 1e-5, 1e-6);
  }
  auto gathered = sharded->GatherState("gather state");
  CHECK_OK(gathered.status(), "GatherState");
  auto reference = replicated->GatherState("reference state").value();
  if (gathered.ok()) {
    CHECK_TRUE(gathered->step == reference.step, "optimizer step count");
    for (const auto& [name, t] : reference.tensors)
      CheckTensorEq(gathered->tensors.at(name), t, "optimizer state " + name, 1e-5, 1e-6);
  }
}

void TestParameterBroadcast(Communicator& c, const WorldInfo&) {
  config::ModelSpec spec;
  spec.name = "ds_cnn";
  spec.width = 8;
  torch::manual_seed(1 + g_rank);  // each rank starts different
  auto model = models::CreateModel(spec, {40, 20, 4}).value();
  model->to(g_device);
  CHECK_OK(train::BroadcastParameters(*model, c, "initial parameters"), "BroadcastParameters");
  torch::manual_seed(1);
  auto rank0 = models::CreateModel(spec, {40, 20, 4}).value();
  auto mine = model->parameters(), want = rank0->parameters();
  for (size_t i = 0; i < mine.size(); ++i) CheckTensorEq(mine[i], want[i], "parameter " + std::to_string(i));
}

std::atomic<bool> g_release{false};

void CUDART_CB HoldStream(void*) {
  for (int i = 0; i < 500 && !g_release.load(); ++i) std::this_thread::sleep_for(milliseconds(10));
}

// The caller's stream is held by a host function for up to 5 s, so the
// collective cannot start; with a 1 s timeout Wait must give up after ~1 s,
// name the collective, and leave the communicator aborted: later collectives
// fail at once instead of queueing behind a dead one.
void TestTimeout(Communicator&, const WorldInfo&) {
  CommunicatorOptions options;
  options.device = g_device;
  options.timeout = milliseconds(1000);
  auto created = CreateCommunicator(options);
  CHECK_OK(created.status(), "a second NCCL communicator");
  if (!created.ok()) return;
  Communicator& c = **created;
  at::Tensor t = torch::ones({1024}, torch::TensorOptions().device(g_device));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream(g_device.index()).stream();
  g_release = false;
  CHECK_TRUE(cudaLaunchHostFunc(stream, HoldStream, nullptr) == cudaSuccess, "cudaLaunchHostFunc");
  const auto start = std::chrono::steady_clock::now();
  Status st = c.AllReduce(t, ReduceOp::kSum, "step 12 bucket 3")->Wait();
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK_CODE(st, StatusCode::kDeadlineExceeded, "a held collective");
  CHECK_TRUE(st.message().find("all_reduce 'step 12 bucket 3'") != std::string::npos,
             "names the collective: " + st.message());
  CHECK_TRUE(st.message().find("aborted") != std::string::npos, "says the communicator was aborted");
  CHECK_TRUE(waited >= 0.95 && waited < 3.0, "gave up after " + std::to_string(waited) + " s, want ~1 s");
  Status after = c.AllReduce(t, ReduceOp::kSum, "after the abort")->Wait();
  CHECK_CODE(after, StatusCode::kUnavailable, "a collective on an aborted communicator");
  g_release = true;
  CHECK_TRUE(cudaStreamSynchronize(stream) == cudaSuccess, "the stream drains after the release");
}

}  // namespace
}  // namespace chorus::comm

int main() {
  using namespace chorus::comm;
  auto world = chorus::comm::testing::StartWorld();
  if (!world) return 1;
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess || gpus == 0) {
    if (world->rank == 0) std::printf("SKIPPED: no CUDA GPU is usable here\n");
    MpiRuntime::Finalize();
    return 0;
  }
  g_device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(world->local_rank % gpus));
  at::globalContext().setAllowTF32CuDNN(false);  // the CPU references are float32
  CommunicatorOptions options;
  options.device = g_device;
  options.timeout = std::chrono::seconds(60);  // a broken test fails instead of hanging
  auto created = CreateCommunicator(options);
  auto mpi = CreateCommunicator(CommunicatorOptions{});
  if (!created.ok() || !mpi.ok()) {
    std::cerr << "rank " << world->rank << ": CreateCommunicator: "
              << (created.ok() ? mpi.status() : created.status()).ToString() << std::endl;
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  std::unique_ptr<Communicator> comm = std::move(created).value();
  g_mpi = std::move(mpi).value();
  const std::vector<testing::Case> cases = {
      {"World", TestWorld},
      {"AllReduce", TestAllReduce},
      {"Broadcast", TestBroadcast},
      {"AllGather", TestAllGather},
      {"ReduceScatter", TestReduceScatter},
      {"StreamOrdering", TestStreamOrdering},
      {"ArgumentErrors", TestArgumentErrors},
      {"GradientReducer", TestGradientReducer},
      {"ShardedOptimizer", TestShardedOptimizer},
      {"ParameterBroadcast", TestParameterBroadcast},
      {"Timeout", TestTimeout},
  };
  const int failed = testing::RunCases(cases, *comm, *world);
  if (failed != 0) {
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  comm.reset();
  g_mpi.reset();
  MpiRuntime::Finalize();
  return 0;
}
