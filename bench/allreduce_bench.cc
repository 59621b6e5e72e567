// allreduce_bench: all-reduce bus bandwidth of Chorus's MpiCommunicator
// (AllReduce(kSum) + Wait) against raw MPI on the same float32 buffers in the
// same run. Run it under MPI:
//
//   mpiexec --oversubscribe -n 2 build/bench/allreduce_bench
//
// For each size (1 KiB to 64 MiB, powers of 4) every method gets warm-up
// iterations, then rounds of enough iterations for about --seconds per size
// in all, the rounds of the methods interleaved so that a noisy neighbour
// hurts them alike; a method's time is its best round's mean (the slowest
// rank's, as a collective ends with its last rank). algbw = bytes / time,
// busbw = algbw * 2(n-1)/n (as nccl-tests report it). Columns:
//   chorus      MpiCommunicator::AllReduce + Wait (MPI_Iallreduce on its queue thread)
//   raw MPI     MPI_Allreduce, in place, on the caller's thread (the baseline)
//   raw Iallr.  MPI_Iallreduce + MPI_Wait on the caller's thread: the same MPI
//               algorithm as chorus, so chorus/Iallr. is the queue's own cost
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "common/comm/mpi_communicator.h"
#include "common/comm/mpi_runtime.h"

namespace {

using chorus::comm::MpiCommunicator;
using chorus::comm::ReduceOp;

enum Method { kChorus = 0, kRaw = 1, kRawNonBlocking = 2, kMethods = 3 };

int g_rank = 0;
int g_world = 1;

void Die(const std::string& why) {
  std::fprintf(stderr, "rank %d: %s\n", g_rank, why.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
}

void RunOnce(Method method, MpiCommunicator& comm, at::Tensor& buffer) {
  const int count = static_cast<int>(buffer.numel());
  switch (method) {
    case kChorus: {
      chorus::Status st = comm.AllReduce(buffer, ReduceOp::kSum, "bench")->Wait();
      if (!st.ok()) Die(st.ToString());
      break;
    }
    case kRaw:
      if (MPI_Allreduce(MPI_IN_PLACE, buffer.data_ptr(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) {
        Die("MPI_Allreduce failed");
      }
      break;
    case kRawNonBlocking: {
      MPI_Request request;
      if (MPI_Iallreduce(MPI_IN_PLACE, buffer.data_ptr(), count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request) !=
              MPI_SUCCESS ||
          MPI_Wait(&request, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        Die("MPI_Iallreduce failed");
      }
      break;
    }
    default: break;
  }
}

// Mean seconds per call over `iters` calls, the slowest rank's.
double TimeRound(Method method, MpiCommunicator& comm, at::Tensor& buffer, int iters) {
  MPI_Barrier(MPI_COMM_WORLD);
  const double start = MPI_Wtime();
  for (int i = 0; i < iters; ++i) RunOnce(method, comm, buffer);
  double mine = (MPI_Wtime() - start) / iters, slowest = 0;
  MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return slowest;
}

// Every method must produce the sum before it is timed.
void CheckSum(Method method, MpiCommunicator& comm, at::Tensor& buffer) {
  buffer.fill_(static_cast<float>(g_rank + 1));
  RunOnce(method, comm, buffer);
  const float want = g_world * (g_world + 1) / 2.0f;
  if (!torch::all(buffer == want).item<bool>()) Die("all-reduce gave a wrong sum for method " + std::to_string(method));
  buffer.zero_();  // time on zeros: sums stay finite and never denormal
}

std::string HumanBytes(int64_t bytes) {
  if (bytes >= (1 << 20)) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1 << 10)) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " B";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"All-reduce bus bandwidth: Chorus MpiCommunicator vs raw MPI (run under mpiexec)"};
  int64_t min_bytes = 1 << 10;
  int64_t max_bytes = int64_t{64} << 20;
  int factor = 4;
  double seconds = 0.2;
  int max_iters = 2000;
  int rounds = 3;
  app.add_option("--min-bytes", min_bytes, "smallest buffer")->capture_default_str();
  app.add_option("--max-bytes", max_bytes, "largest buffer")->capture_default_str();
  app.add_option("--factor", factor, "size step")->capture_default_str()->check(CLI::Range(2, 16));
  app.add_option("--seconds", seconds, "timed seconds per size and method")->capture_default_str();
  app.add_option("--max-iters", max_iters, "cap on iterations per size and method")->capture_default_str();
  app.add_option("--rounds", rounds, "interleaved rounds per size; the best counts")->capture_default_str()->check(
      CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);

  auto world = chorus::comm::MpiRuntime::Initialize();
  if (!world.ok()) {
    std::fprintf(stderr, "%s\n", world.status().ToString().c_str());
    return 1;
  }
  g_rank = world->rank;
  g_world = world->world_size;
  at::set_num_threads(1);
  auto created = MpiCommunicator::Create();
  if (!created.ok()) Die(created.status().ToString());
  auto comm = std::move(created).value();

  if (g_rank == 0) {
    if (g_world == 1) {
      std::printf("hint: one rank, so nothing crosses processes and busbw is 0; run it as\n"
                  "  mpiexec --oversubscribe -n 2 %s\n",
                  argv[0]);
    }
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(version, &len);
    std::string lib(version, len);
    lib = lib.substr(0, lib.find_first_of(",\n"));
    std::printf("all-reduce float32 sum, %d ranks, %s; best of %d rounds, ~%.2f s per size and method\n", g_world,
                lib.c_str(), rounds, seconds);
    std::printf("%10s %12s %12s %12s %12s %8s %12s %8s\n", "size", "chorus us", "chorus GB/s", "raw MPI us",
                "raw GB/s", "ch/raw", "Iallr. us", "ch/Iallr");
    std::fflush(stdout);
  }

  const double bus_factor = 2.0 * (g_world - 1) / g_world;
  const double start_all = MPI_Wtime();
  for (int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= factor) {
    at::Tensor buffer = torch::zeros({bytes / 4}, torch::kFloat32);
    double best[kMethods];
    double per_call = 0;
    for (int m = 0; m < kMethods; ++m) {
      CheckSum(static_cast<Method>(m), *comm, buffer);
      // Warm-up: a few calls, also the estimate of the cost of one.
      const int warm = bytes >= (16 << 20) ? 2 : 10;
      per_call = std::max(per_call, TimeRound(static_cast<Method>(m), *comm, buffer, warm));
      best[m] = 1e30;
    }
    // The same count on every rank and for every method.
    const int iters =
        std::clamp(static_cast<int>(seconds / rounds / std::max(per_call, 1e-7)), 2, std::max(2, max_iters / rounds));
    for (int round = 0; round < rounds; ++round) {
      for (int m = 0; m < kMethods; ++m) {
        best[m] = std::min(best[m], TimeRound(static_cast<Method>(m), *comm, buffer, iters));
      }
    }
    if (g_rank == 0) {
      auto busbw = [&](double t) { return bytes / t * bus_factor / 1e9; };
      std::printf("%10s %12.1f %12.3f %12.1f %12.3f %8.2f %12.1f %8.2f\n", HumanBytes(bytes).c_str(),
                  best[kChorus] * 1e6, busbw(best[kChorus]), best[kRaw] * 1e6, busbw(best[kRaw]),
                  best[kChorus] / best[kRaw], best[kRawNonBlocking] * 1e6, best[kChorus] / best[kRawNonBlocking]);
      std::fflush(stdout);
    }
  }
  if (g_rank == 0) {
    std::printf("busbw = bytes / time * 2(n-1)/n in GB/s (1e9 B/s); total %.1f s\n", MPI_Wtime() - start_all);
  }
  comm.reset();
  chorus::comm::MpiRuntime::Finalize();
  return 0;
}
