#include "common/util/allocator.h"

#include <malloc.h>

#include <spdlog/spdlog.h>

namespace chorus {

void TuneAllocatorForTensors() {
  const bool ok = mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
  if (!ok) spdlog::warn("could not tune malloc for tensor workloads; training may be slower");
}

}  // namespace chorus
