#include "common/models/frame_stream.h"

#include <map>

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
  ASSIGN_OR_RETURN(std::vector<std::vector<float>> out, PushMany({{this, samples, n}}));
  return std::move(out.front());
}

Result<std::vector<std::vector<float>>> FrameStream::PushMany(const std::vector<Piece>& pieces) {
  std::vector<std::vector<float>> out(pieces.size());
  if (pieces.empty()) return out;
  const audio::FeatureExtractor& extractor = pieces.front().stream->extractor_;
  StreamingModel& model = *pieces.front().stream->model_;
  const int64_t window = extractor.window_length(), hop = extractor.hop_length();
  for (const Piece& p : pieces) {
    if (&p.stream->extractor_ != &extractor || p.stream->model_.get() != &model)
      return InvalidArgument("streams pushed together must share their front end and model");
    p.stream->pending_.insert(p.stream->pending_.end(), p.samples, p.samples + p.n);
  }
  // Every complete frame of every stream (pointers taken once no pending grows).
  std::vector<int64_t> complete(pieces.size()), first_row(pieces.size());
  std::vector<const float*> starts;
  std::map<int64_t, std::vector<size_t>> by_frames;  // frame count -> pieces
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::vector<float>& pending = pieces[i].stream->pending_;
    const int64_t have = static_cast<int64_t>(pending.size());
    complete[i] = have < window ? 0 : (have - window) / hop + 1;
    first_row[i] = static_cast<int64_t>(starts.size());
    for (int64_t k = 0; k < complete[i]; ++k) starts.push_back(pending.data() + k * hop);
    if (complete[i] > 0) by_frames[complete[i]].push_back(i);
  }
  if (starts.empty()) return out;
  ASSIGN_OR_RETURN(const at::Tensor features, extractor.ComputeFrames(starts));
  c10::InferenceMode inference;  // no autograd bookkeeping at all: a chunk is a few frames, overhead dominates
  const c10::Device device = pieces.front().stream->state_.device();
  for (const auto& [frames, members] : by_frames) {
    std::vector<at::Tensor> inputs, states;
    for (size_t i : members) {
      inputs.push_back(features.narrow(0, first_row[i], frames));
      states.push_back(pieces[i].stream->state_);
    }
    at::Tensor state = states.size() == 1 ? states.front() : torch::cat(states, 0);
    const at::Tensor logits = model.ForwardChunk(torch::stack(inputs, 0).to(device), state).to(torch::kCPU).contiguous();
    for (size_t j = 0; j < members.size(); ++j) {
      const float* p = logits.data_ptr<float>() + static_cast<int64_t>(j) * frames;
      out[members[j]].assign(p, p + frames);
      pieces[members[j]].stream->state_ = state.narrow(0, static_cast<int64_t>(j), 1);
    }
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    FrameStream& s = *pieces[i].stream;
    s.pending_.erase(s.pending_.begin(), s.pending_.begin() + complete[i] * hop);
    s.frames_ += complete[i];
  }
  return out;
}

}  // namespace chorus::models
