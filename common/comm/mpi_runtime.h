// MpiRuntime: the process's MPI lifetime. Initialize() calls MPI_Init_thread
// (MPI_THREAD_MULTIPLE) once; a process started by mpirun or by Slurm's
// `srun --mpi=pmix` learns its rank and world size from MPI itself, and a
// process started alone is rank 0 of 1. Finalize() must run before exit (after
// every communicator is destroyed). Thread-safe.
#pragma once

#include "common/util/status.h"

namespace chorus::comm {

struct WorldInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  // rank among the processes on this host
};

class MpiRuntime {
 public:
  static Result<WorldInfo> Initialize();
  static void Finalize();
  static bool initialized();
};

}  // namespace chorus::comm
