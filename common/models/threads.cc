#include "common/models/threads.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>

namespace chorus::models {

void SetComputeThreads(int n) {
  if (n <= 0) return;
  at::set_num_threads(n);
  // Looked up rather than linked: the BLAS is whichever Debian alternative is
  // installed (OpenBLAS pthreads, OpenBLAS OpenMP, reference BLAS, BLIS).
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(n);
}

}  // namespace chorus::models
