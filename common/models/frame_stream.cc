#include "common/models/frame_stream.h"

#include <torch/torch.h>

namespace chorus::models {

FrameStream::FrameStream(const audio::FeatureExtractor& extractor, std::shared_ptr<StreamingModel> model)
    : extractor_(extractor), model_(std::move(model)) {
  state_ = model_->InitialState(1);
}

FrameStream::FrameStream(const audio::FeatureExtractor& extractor, std::shared_ptr<StreamingModel> model,
                         std::vector<float> pending, at::Tensor state, int64_t frames)
    : extractor_(extractor), model_(std::move(model)), pending_(std::move(pending)), frames_(frames) {
  state_ = state.to(model_->device());
}

Result<std::vector<float>> FrameStream::Push(const float* samples, int64_t n) {
  pending_.insert(pending_.end(), samples, samples + n);
  const int64_t window = extractor_.window_length(), hop = extractor_.hop_length();
  const int64_t have = static_cast<int64_t>(pending_.size());
  if (have < window) return std::vector<float>();
  const int64_t complete = (have - window) / hop + 1;
  ASSIGN_OR_RETURN(at::Tensor features, extractor_.Compute(pending_.data(), (complete - 1) * hop + window));
  c10::InferenceMode inference;  // no autograd bookkeeping at all: a chunk is a few frames, overhead dominates
  const at::Tensor out =
      model_->ForwardChunk(features.unsqueeze(0).to(state_.device()), state_).to(torch::kCPU).contiguous();
  pending_.erase(pending_.begin(), pending_.begin() + complete * hop);
  frames_ += complete;
  const float* p = out.data_ptr<float>();
  return std::vector<float>(p, p + out.numel());
}

}  // namespace chorus::models
