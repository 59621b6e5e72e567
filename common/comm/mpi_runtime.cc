#include "common/comm/mpi_runtime.h"

#include <mpi.h>

#include <mutex>

namespace chorus::comm {
namespace {

std::mutex g_mu;
bool g_initialized = false;
WorldInfo g_world;

}  // namespace

Result<WorldInfo> MpiRuntime::Initialize() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_initialized) return g_world;
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS) {
    return Unavailable("MPI_Init_thread failed");
  }
  if (provided < MPI_THREAD_MULTIPLE) {
    return FailedPrecondition("the MPI library does not provide MPI_THREAD_MULTIPLE (got level " +
                              std::to_string(provided) + ")");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_world.world_size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world.rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &g_world.local_rank);
  MPI_Comm_free(&local);
  g_initialized = true;
  return g_world;
}

void MpiRuntime::Finalize() {
  std::lock_guard<std::mutex> lock(g_mu);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_initialized && !finalized) MPI_Finalize();
}

bool MpiRuntime::initialized() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_initialized;
}

}  // namespace chorus::comm
