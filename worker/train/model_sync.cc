#include "worker/train/model_sync.h"

#include <torch/torch.h>

namespace chorus::train {
namespace {

// One broadcast for a list of same-dtype tensors: flatten, send, copy back
// (in each tensor's own memory format).
Status BroadcastFlat(const std::vector<torch::Tensor>& tensors, comm::Communicator& comm, const std::string& tag) {
  if (tensors.empty()) return Status::Ok();
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> views;
  for (const auto& t : tensors) views.push_back(t.detach().reshape(-1));
  torch::Tensor flat = torch::cat(views);
  RETURN_IF_ERROR(comm.Broadcast(flat, 0, tag)->Wait());
  int64_t at = 0;
  for (const auto& t : tensors) {
    t.detach().copy_(flat.narrow(0, at, t.numel()).view(t.sizes()));
    at += t.numel();
  }
  return Status::Ok();
}

}  // namespace

Status BroadcastBuffers(models::Model& model, comm::Communicator& comm, const std::string& tag) {
  std::vector<torch::Tensor> floating, integral;
  for (const auto& b : model.buffers()) (b.is_floating_point() ? floating : integral).push_back(b);
  RETURN_IF_ERROR(BroadcastFlat(floating, comm, tag));
  return BroadcastFlat(integral, comm, tag);
}

Status BroadcastParameters(models::Model& model, comm::Communicator& comm, const std::string& tag) {
  RETURN_IF_ERROR(BroadcastFlat(model.parameters(), comm, tag));
  return BroadcastBuffers(model, comm, tag + " buffers");
}

}  // namespace chorus::train
