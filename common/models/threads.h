// Compute threads of this process: ATen's intra-op pool and, when the BLAS
// behind LibTorch is OpenBLAS built with its own pthreads pool (Debian's
// libopenblas0-pthread), that pool too. at::set_num_threads alone leaves
// OpenBLAS at one thread per core, whose idle threads spin in sched_yield:
// a one-thread serving worker measured 1.5 cores busy on 2 (stream_bench),
// starving its broker and clients. Call early in main(); process-wide.
#pragma once

namespace chorus::models {

// n >= 1: ATen and OpenBLAS (if present) use n threads. n <= 0: no change.
void SetComputeThreads(int n);

}  // namespace chorus::models
