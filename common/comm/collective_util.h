// Small pieces every Communicator backend shares: argument checks, the
// average step of a reduction, and a Work that is already finished (for
// arguments refused before anything is queued). Thread-safe.
#pragma once

#include <ATen/core/Tensor.h>

#include "common/comm/communicator.h"
#include "common/util/status.h"

namespace chorus::comm {

// Defined and contiguous; `what` names the argument in the error.
Status CheckTensorArgument(const at::Tensor& t, const char* what);

// The size rules of AllGather (output = world x input) and ReduceScatter
// (input = world x output), same dtype on both sides.
Status CheckGatherSizes(const at::Tensor& whole, const at::Tensor& part, int world_size, const char* what);

// The average step of kAverage: integer tensors divide with truncation (as
// NCCL's ncclAvg does); at::div_ alone would refuse to write floats into them.
void DivideBy(at::Tensor& t, int n);

// A Work whose Wait() returns `status` at once.
WorkPtr FinishedWork(Status status);

}  // namespace chorus::comm
