#include "worker/train/gradient_reducer.h"

#include <torch/torch.h>

namespace chorus::train {

GradientReducer::GradientReducer(std::vector<torch::Tensor> params, comm::Communicator& comm, ReducerOptions options)
    : params_(std::move(params)), comm_(comm) {
  const int n = static_cast<int>(params_.size());
  bucket_of_.assign(n, -1);
  slot_of_.assign(n, -1);
  ready_.assign(n, false);
  Bucket current;
  int64_t bytes = 0;
  // Buckets live where the gradients are (all parameters on one device).
  const torch::TensorOptions buffer_options =
      torch::TensorOptions().dtype(torch::kFloat32).device(n > 0 ? params_[0].device() : torch::Device(torch::kCPU));
  auto close = [&] {
    if (current.params.empty()) return;
    current.buffer = torch::zeros({bytes / static_cast<int64_t>(sizeof(float))}, buffer_options);
    buckets_.push_back(std::move(current));
    current = Bucket();
    bytes = 0;
  };
  for (int i = n - 1; i >= 0; --i) {
    if (!params_[i].requires_grad()) continue;
    const int64_t size = params_[i].numel() * static_cast<int64_t>(sizeof(float));
    const int64_t cap = buckets_.empty() ? options.first_bucket_bytes : options.bucket_bytes;
    if (!current.params.empty() && bytes + size > cap) close();
    bucket_of_[i] = static_cast<int>(buckets_.size());
    slot_of_[i] = static_cast<int>(current.params.size());
    current.params.push_back(i);
    current.offsets.push_back(bytes / static_cast<int64_t>(sizeof(float)));
    bytes += size;
  }
  close();
  for (int i = 0; i < n; ++i) {
    if (bucket_of_[i] < 0) continue;
    hooks_.emplace_back(i, params_[i].register_hook([this, i](torch::Tensor grad) {
      OnGradient(i, grad);
      return grad;
    }));
  }
}

GradientReducer::~GradientReducer() {
  // Hooks hold `this`; drop them so a later backward cannot call into freed memory.
  for (const auto& [param, hook] : hooks_) params_[param].remove_hook(hook);
}

void GradientReducer::Prepare(bool sync, int64_t step) {
  sync_ = sync;
  step_ = step;
  std::fill(ready_.begin(), ready_.end(), false);
  for (auto& b : buckets_) {
    b.pending = static_cast<int>(b.params.size());
    b.work.reset();
  }
}

void GradientReducer::OnGradient(int param, const torch::Tensor& grad) {
  if (!sync_ || ready_[param]) return;
  ready_[param] = true;
  Bucket& b = buckets_[bucket_of_[param]];
  torch::NoGradGuard no_grad;
  torch::Tensor slot = b.buffer.narrow(0, b.offsets[slot_of_[param]], grad.numel());
  const torch::Tensor& accumulated = params_[param].grad();
  if (accumulated.defined()) {
    torch::add_out(slot, accumulated.reshape(-1), grad.reshape(-1));
  } else {
    slot.copy_(grad.reshape(-1));
  }
  if (--b.pending == 0) Launch(bucket_of_[param]);
}

void GradientReducer::Launch(int bucket) {
  buckets_[bucket].work = comm_.AllReduce(buckets_[bucket].buffer, comm::ReduceOp::kAverage,
                                          "step " + std::to_string(step_) + " bucket " + std::to_string(bucket));
}

Status GradientReducer::Finish() {
  torch::NoGradGuard no_grad;
  // Parameters that took no part in this backward contribute zeros (their
  // bucket must still be reduced: the other ranks are waiting for it).
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    Bucket& bucket = buckets_[b];
    if (bucket.work) continue;
    for (std::size_t s = 0; s < bucket.params.size(); ++s) {
      const int p = bucket.params[s];
      if (ready_[p]) continue;
      torch::Tensor slot = bucket.buffer.narrow(0, bucket.offsets[s], params_[p].numel());
      if (params_[p].grad().defined()) slot.copy_(params_[p].grad().reshape(-1));
      else slot.zero_();
    }
    Launch(static_cast<int>(b));
  }
  for (auto& bucket : buckets_) {
    RETURN_IF_ERROR(bucket.work->Wait());
    for (std::size_t s = 0; s < bucket.params.size(); ++s) {
      torch::Tensor& p = params_[bucket.params[s]];
      torch::Tensor averaged = bucket.buffer.narrow(0, bucket.offsets[s], p.numel()).view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(averaged);
      else p.mutable_grad() = averaged.clone();
    }
  }
  return Status::Ok();
}

}  // namespace chorus::train
