// StepRunner: the inner loop of training, one optimizer step at a time, on
// the model's device. For each micro-batch: the batch goes to the device
// (asynchronously from pinned host memory), forward and the task's loss run
// (under bfloat16 autocast when asked), backward runs, and the GradientReducer (if
// any) starts averaging buckets as their gradients appear. Apply() then waits
// for the reduction, runs the optimizer and clears the gradients.
//
// Loss and the task's right decisions accumulate on the device and are only read
// when the caller asks (TakeStats), so a single-process step never waits for
// the GPU. The trainer and the GPU benchmark run steps through this class, so
// what the benchmark times is what training does. With mixup, each
// micro-batch is blended in pairs before the forward (mixup.h); the right
// decisions count against each example's own label. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "common/models/model.h"
#include "common/tasks/task.h"
#include "common/util/status.h"
#include "worker/train/flat_optimizer.h"
#include "worker/train/gradient_reducer.h"

namespace chorus::train {

struct StepOptions {
  int accumulate_steps = 1;     // micro-batches per optimizer step
  bool bf16 = false;            // forward and loss under bfloat16 autocast
  double label_smoothing = 0.0;
  double mixup_alpha = 0.0;  // > 0: each micro-batch is mixed up (mixup.h)
  uint64_t seed = 1;         // with the step and micro-batch, picks each mix
};

class StepRunner {
 public:
  // The model's parameters define the device. reducer may be null (one rank,
  // or ZeRO-1, whose optimizer reduce-scatters itself).
  StepRunner(models::Model& model, const tasks::Task& task, FlatOptimizer& optimizer, GradientReducer* reducer,
             StepOptions options);

  // Forward and backward of micro-batch `micro` (0-based) of optimizer step
  // `step` (1-based, names collectives). features [B, frames, bins] float and
  // the task's targets, on the host or the device.
  void Accumulate(const at::Tensor& features, const tasks::Targets& targets, int micro, int64_t step);

  // After the last micro-batch: waits for the gradient reduction, applies the
  // optimizer with learning rate `lr`, clears the gradients.
  Status Apply(double lr, const std::string& tag);

  // [3] float64 on the device, since the last call: the sum over steps of
  // each step's mean loss, the task's right decisions, and its decisions.
  at::Tensor TakeStats();

  const c10::Device& device() const { return device_; }

 private:
  models::Model& model_;
  const tasks::Task& task_;
  FlatOptimizer& optimizer_;
  GradientReducer* reducer_;
  StepOptions options_;
  c10::Device device_;
  at::Tensor stats_;
};

}  // namespace chorus::train
