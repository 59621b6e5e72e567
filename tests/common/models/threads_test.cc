#include "common/models/threads.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

namespace chorus::models {
namespace {

using GetThreads = int (*)();

// The BLAS behind LibTorch, when it is OpenBLAS with a pool of its own.
GetThreads OpenBlasThreads() { return reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")); }

TEST(SetComputeThreads, SetsAtenAndOpenBlasPools) {
  const int saved = at::get_num_threads();
  SetComputeThreads(1);
  EXPECT_EQ(at::get_num_threads(), 1);
  if (GetThreads blas = OpenBlasThreads()) EXPECT_EQ(blas(), 1);
  SetComputeThreads(2);
  EXPECT_EQ(at::get_num_threads(), 2);
  if (GetThreads blas = OpenBlasThreads()) EXPECT_EQ(blas(), 2);
  SetComputeThreads(0);  // no change
  EXPECT_EQ(at::get_num_threads(), 2);
  SetComputeThreads(saved);
}

TEST(SetComputeThreads, ThisBuildUsesOpenBlas) {
  // Debian's LibTorch links libblas.so.3; setup.sh installs OpenBLAS, which
  // takes that alternative with its pthreads pool, the pool SetComputeThreads
  // exists for. Another BLAS would be correct too; this makes a change visible.
  EXPECT_NE(OpenBlasThreads(), nullptr) << "libblas.so.3 is not OpenBLAS here";
}

}  // namespace
}  // namespace chorus::models
