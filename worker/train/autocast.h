// AutocastScope: mixed precision as PyTorch's torch.autocast does it. While a
// scope is alive on this thread, the ops LibTorch lists for autocast
// (convolutions, matrix products, linear layers) run in bfloat16 on the
// scope's device type, and precision-sensitive ones (losses, softmax,
// reductions) in float32. Weights, gradients and optimizer state stay
// float32; bfloat16 has float32's range, so no loss scaling is needed.
// Forward and loss go inside the scope, backward outside it. A disabled scope
// does nothing. Scopes nest; each restores what it found. Thread-local, like
// autocast itself.
#pragma once

#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

namespace chorus::train {

class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device_type, bool enabled);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_type_;
  bool enabled_;
  bool was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Undefined;
};

}  // namespace chorus::train
