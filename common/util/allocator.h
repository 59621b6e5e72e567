// Process-wide memory allocator tuning for training and inference processes.
//
// glibc's malloc serves blocks above a threshold (128 KiB, raised adaptively)
// with fresh mmap()s and unmaps them on free, so every training step pays
// page faults for its multi-megabyte activations again: DS-CNN training ran
// ~40% slower than with the memory kept for reuse (bench/train_bench). This
// keeps freed blocks up to 256 MiB in the heap and trims the heap only above
// 1 GiB, the effect PyTorch users get from jemalloc or tcmalloc. Call once,
// early in main(); it is a process-wide setting. Thread-safe.
#pragma once

namespace chorus {

void TuneAllocatorForTensors();

}  // namespace chorus
