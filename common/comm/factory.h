// The one place that knows which communication backends were compiled in.
// CreateCommunicator picks NCCL for CUDA devices (when CHORUS_WITH_NCCL) and
// MPI for the CPU; MPI must already be initialized (MpiRuntime), because NCCL
// also uses it to share its unique id. Thread-safe.
#pragma once

#include <memory>

#include <c10/core/Device.h>

#include "common/comm/communicator.h"

namespace chorus::comm {

struct CommunicatorOptions {
  c10::Device device = c10::Device(c10::kCPU);
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

Result<std::unique_ptr<Communicator>> CreateCommunicator(const CommunicatorOptions& options);

// True when this build can run collectives on CUDA tensors.
bool NcclCompiledIn();

}  // namespace chorus::comm
