// Data-parallel training throughput, side by side with PyTorch DDP.
//
// The DS-CNN keyword-spotting shape (40 log-mel bins x 98 frames, 12 classes,
// batch 64 per rank, Adam, one intra-op thread per rank) on random features,
// so only training is timed: forward, backward with bucketed all-reduce
// overlapping it, BatchNorm buffer broadcast, optimizer step.
//
//   ddp_bench                 runs everything below and prints the table
//   ddp_bench --worker        one rank of Chorus (started by mpiexec)
// The baseline is bench/ddp_bench.py: torch.nn.parallel.DistributedDataParallel
// with the gloo backend (ranks started by torch.multiprocessing), same model and shapes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "bench/bench_util.h"
#include "common/comm/factory.h"
#include "common/comm/mpi_runtime.h"
#include "common/models/model.h"
#include "common/models/threads.h"
#include "common/util/check.h"
#include "common/util/allocator.h"
#include "common/util/logging.h"
#include "worker/train/flat_optimizer.h"
#include "worker/train/gradient_reducer.h"
#include "worker/train/model_sync.h"

namespace {

namespace fs = std::filesystem;

struct Settings {
  std::string model = "ds_cnn";
  int batch = 64;
  int steps = 30;
  int warmup = 5;
  std::string sharding = "none";
};

int Worker(const Settings& s) {
  using namespace chorus;
  chorus::models::SetComputeThreads(1);
  auto world = comm::MpiRuntime::Initialize();
  if (!world.ok()) {
    std::fprintf(stderr, "%s\n", world.status().ToString().c_str());
    return 1;
  }
  auto comm = comm::CreateCommunicator({});
  if (!comm.ok()) return 1;
  torch::manual_seed(world->rank);
  config::ModelSpec spec;
  spec.name = s.model;
  auto model = models::CreateModel(spec, {98, 40, 12}).value();
  config::OptimizerSpec opt_spec;
  const bool shard = s.sharding == "optimizer" && world->world_size > 1;
  auto optimizer = train::FlatOptimizer::Create(model->parameters(), opt_spec, comm->get(), shard).value();
  if (world->rank == 0) {
    std::fprintf(stderr, "  %d rank(s)%s: optimizer state %lld bytes per rank for %lld parameters\n", world->world_size,
                 shard ? " with ZeRO-1" : "", static_cast<long long>(optimizer->StateBytesPerRank()),
                 static_cast<long long>(optimizer->num_elements()));
  }
  std::unique_ptr<train::GradientReducer> reducer;
  if (world->world_size > 1 && !shard) {
    reducer = std::make_unique<train::GradientReducer>(model->parameters(), **comm, train::ReducerOptions{});
  }
  if (world->world_size > 1) CHORUS_CHECK(train::BroadcastParameters(*model, **comm, "init").ok());
  torch::Tensor x = torch::randn({s.batch, 98, 40});
  torch::Tensor y = torch::randint(0, 12, {s.batch}, torch::kInt64);
  auto step = [&](int i) {
    const std::string tag = "step " + std::to_string(i);
    if (world->world_size > 1) CHORUS_CHECK(train::BroadcastBuffers(*model, **comm, tag).ok());
    if (reducer) reducer->Prepare(true, i);
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    if (reducer) CHORUS_CHECK(reducer->Finish().ok());
    CHORUS_CHECK(optimizer->Step(1e-3, tag).ok());
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
  };
  for (int i = 0; i < s.warmup; ++i) step(i);
  CHORUS_CHECK((*comm)->Barrier("start")->Wait().ok());
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < s.steps; ++i) step(s.warmup + i);
  torch::Tensor seconds = torch::tensor({std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()},
                                        torch::kFloat64);
  // The slowest rank sets the pace.
  torch::Tensor gathered = torch::empty({world->world_size}, torch::kFloat64);
  CHORUS_CHECK((*comm)->AllGather(gathered, seconds, "times")->Wait().ok());
  const double slowest = gathered.max().item<double>();
  if (world->rank == 0) std::printf("%.3f\n", s.steps * s.batch * world->world_size / slowest);
  comm->reset();
  comm::MpiRuntime::Finalize();
  return 0;
}

fs::path SelfPath() { return fs::read_symlink("/proc/self/exe"); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Data-parallel training samples/s: Chorus (MPI) against PyTorch DDP (gloo) on the same model"};
  Settings s;
  bool worker = false;
  std::string mpiexec = "mpiexec";
  app.add_flag("--worker", worker, "run as one rank (under mpiexec)");
  app.add_option("--model", s.model, "model of the zoo")->capture_default_str();
  app.add_option("--batch", s.batch, "batch per rank")->capture_default_str();
  app.add_option("--steps", s.steps, "timed steps")->capture_default_str();
  app.add_option("--sharding", s.sharding, "none or optimizer (ZeRO-1)")->capture_default_str();
  app.add_option("--mpiexec", mpiexec, "MPI launcher")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  chorus::InitLogging("warn");
  chorus::TuneAllocatorForTensors();
  if (worker) return Worker(s);

  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  ::setenv("OMPI_MCA_btl", "self,vader", 0);
  const std::string args = " --model " + s.model + " --batch " + std::to_string(s.batch) + " --steps " +
                           std::to_string(s.steps);
  double ours[3] = {0, 0, 0}, theirs[3] = {0, 0, 0};
  for (int n : {1, 2}) {
    std::fprintf(stderr, "measuring %d rank(s) ...\n", n);
    auto a = chorus::bench::RunAndReadNumber(mpiexec + " --oversubscribe --bind-to none -n " + std::to_string(n) + " " +
                                             SelfPath().string() + " --worker --sharding " + s.sharding + args);
    auto b = chorus::bench::RunAndReadNumber(
        "OMP_NUM_THREADS=1 /usr/bin/python3 " + chorus::bench::SourcePath("bench/ddp_bench.py") + " --nproc " +
        std::to_string(n) + args);
    if (!a.ok() || !b.ok()) {
      std::fprintf(stderr, "%s\n%s\n", a.status().ToString().c_str(), b.status().ToString().c_str());
      return 1;
    }
    ours[n] = *a;
    theirs[n] = *b;
  }
  std::printf("data-parallel training, %s, batch %d per rank, input 98x40, 12 classes, Adam, 1 thread per rank%s\n",
              s.model.c_str(), s.batch, s.sharding == "optimizer" ? ", ZeRO-1" : "");
  std::printf("%-6s %16s %16s %10s\n", "ranks", "chorus samples/s", "pytorch DDP", "ratio");
  for (int n : {1, 2}) std::printf("%-6d %16.1f %16.1f %9.2fx\n", n, ours[n], theirs[n], ours[n] / theirs[n]);
  std::printf("scaling efficiency 1 -> 2 ranks: chorus %.0f%%, pytorch DDP %.0f%%\n",
              100.0 * ours[2] / (2 * ours[1]), 100.0 * theirs[2] / (2 * theirs[1]));
  std::printf("goals: >= 1.25x PyTorch DDP at 2 ranks (%s), >= 90%% scaling (%s)\n",
              ours[2] >= 1.25 * theirs[2] ? "met" : "NOT met", ours[2] >= 1.8 * ours[1] ? "met" : "NOT met");
  return 0;
}
