#include "common/comm/collective_util.h"

#include <ATen/ATen.h>

#include "common/comm/work_queue.h"

namespace chorus::comm {

Status CheckTensorArgument(const at::Tensor& t, const char* what) {
  if (!t.defined()) return InvalidArgument(std::string(what) + " tensor is undefined");
  if (!t.is_contiguous()) return InvalidArgument(std::string(what) + " tensor must be contiguous");
  return Status::Ok();
}

Status CheckGatherSizes(const at::Tensor& whole, const at::Tensor& part, int world_size, const char* what) {
  if (whole.numel() != part.numel() * world_size || whole.scalar_type() != part.scalar_type()) {
    return InvalidArgument(std::string(what) + ": the whole tensor must hold world_size x the part's elements, of the "
                           "same dtype; got " + std::to_string(whole.numel()) + " and " + std::to_string(part.numel()) +
                           " elements for world size " + std::to_string(world_size));
  }
  return Status::Ok();
}

void DivideBy(at::Tensor& t, int n) {
  if (c10::isIntegralType(t.scalar_type(), /*includeBool=*/true)) {
    t.div_(n, "trunc");
  } else {
    t.div_(n);
  }
}

WorkPtr FinishedWork(Status status) {
  auto work = std::make_shared<QueuedWork>("", std::chrono::steady_clock::now());
  work->Complete(std::move(status));
  return work;
}

}  // namespace chorus::comm
