#include "worker/train/train_step.h"

#include <torch/torch.h>

#include "worker/train/autocast.h"

namespace chorus::train {

StepRunner::StepRunner(models::Model& model, FlatOptimizer& optimizer, GradientReducer* reducer, StepOptions options)
    : model_(model), optimizer_(optimizer), reducer_(reducer), options_(options),
      device_(model.parameters().empty() ? c10::Device(c10::kCPU) : model.parameters().front().device()) {
  stats_ = torch::zeros({2}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
}

void StepRunner::Accumulate(const at::Tensor& features, const at::Tensor& labels, int micro, int64_t step) {
  const int accumulate = options_.accumulate_steps;
  if (reducer_) reducer_->Prepare(/*sync=*/micro == accumulate - 1, step);
  // Non-blocking from pinned memory: the copy overlaps the host's work.
  const torch::Tensor x = features.to(device_, /*non_blocking=*/true);
  const torch::Tensor y = labels.to(device_, /*non_blocking=*/true);
  torch::Tensor logits, loss;
  {
    AutocastScope autocast(device_.type(), options_.bf16);
    logits = model_.forward(x);
    loss = torch::nn::functional::cross_entropy(
        logits, y, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(options_.label_smoothing));
  }
  (accumulate > 1 ? loss / accumulate : loss).backward();
  torch::NoGradGuard no_grad;
  const torch::Tensor correct = logits.argmax(1).eq(y).sum();
  stats_.add_(torch::stack({loss.detach().to(torch::kFloat64) / accumulate, correct.to(torch::kFloat64)}));
}

Status StepRunner::Apply(double lr, const std::string& tag) {
  if (reducer_) RETURN_IF_ERROR(reducer_->Finish());
  RETURN_IF_ERROR(optimizer_.Step(lr, tag));
  for (auto& p : model_.parameters()) p.mutable_grad() = torch::Tensor();
  return Status::Ok();
}

at::Tensor StepRunner::TakeStats() {
  torch::Tensor out = stats_;
  stats_ = torch::zeros_like(out);
  return out;
}

}  // namespace chorus::train
