#include "worker/train/train_step.h"

#include <optional>

#include <torch/torch.h>

#include "worker/train/autocast.h"
#include "worker/train/mixup.h"

namespace chorus::train {

StepRunner::StepRunner(models::Model& model, const tasks::Task& task, FlatOptimizer& optimizer,
                       GradientReducer* reducer, StepOptions options)
    : model_(model), task_(task), optimizer_(optimizer), reducer_(reducer), options_(options),
      device_(model.device()) {
  stats_ = torch::zeros({3}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
}

void StepRunner::Accumulate(const at::Tensor& features, const tasks::Targets& targets, int micro, int64_t step) {
  const int accumulate = options_.accumulate_steps;
  if (reducer_) reducer_->Prepare(/*sync=*/micro == accumulate - 1, step);
  // Non-blocking from pinned memory: the copy overlaps the host's work.
  torch::Tensor x = features.to(device_, /*non_blocking=*/true);
  const tasks::Targets y = targets.To(device_, /*non_blocking=*/true);
  std::optional<MixPlan> mix;
  if (options_.mixup_alpha > 0 && x.size(0) > 1) {
    mix = PlanMixup(x.size(0), options_.mixup_alpha,
                    options_.seed * 1000003u + static_cast<uint64_t>(step) * 1024u + static_cast<uint64_t>(micro));
    mix->perm = mix->perm.to(device_);  // once, for the features and the targets
    x = MixBatch(x, *mix);
  }
  torch::Tensor output, loss;
  {
    AutocastScope autocast(device_.type(), options_.bf16);
    output = model_.forward(x);
    loss = task_.Loss(output, y, options_.label_smoothing);
    if (mix) {
      const tasks::Targets partner = y.Select(mix->perm);
      loss = loss * mix->lambda + task_.Loss(output, partner, options_.label_smoothing) * (1.0 - mix->lambda);
    }
  }
  (accumulate > 1 ? loss / accumulate : loss).backward();
  torch::NoGradGuard no_grad;
  stats_.add_(torch::cat({(loss.detach().to(torch::kFloat64) / accumulate).reshape({1}), task_.Decisions(output, y)}));
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
