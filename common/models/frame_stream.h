// FrameStream: a per-frame streaming model (model.h) run over audio that
// arrives in pieces of any size: samples are buffered until a frame's window
// is complete, the front end computes exactly the frames the whole audio
// would have (frame i is the window starting at i * hop), and the model
// carries its state from piece to piece. Pushing a recording in any chunks
// gives the outputs of the model run on the recording's features at once.
// The model must be in eval mode. One stream per thread; several streams may
// share a model and a front end, and run as one batch (PushMany). A stream's whole state is pending(),
// state() and frames(): a stream built from them goes on exactly where the
// saved one stopped (a streaming session moving to another worker).
#pragma once

#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "common/audio/features.h"
#include "common/models/model.h"
#include "common/util/status.h"

namespace chorus::models {

class FrameStream {
 public:
  FrameStream(const audio::FeatureExtractor& extractor, std::shared_ptr<StreamingModel> model);
  // Resumes a saved stream; `state` must be [1, model->state_size()] (on any device).
  FrameStream(const audio::FeatureExtractor& extractor, std::shared_ptr<StreamingModel> model,
              std::vector<float> pending, at::Tensor state, int64_t frames);

  // Appends samples (at the front end's rate); returns the model's outputs
  // (logits) for the frames they complete, in order.
  Result<std::vector<float>> Push(const float* samples, int64_t n);

  // Pushes into several streams at once, as Push does into each: their
  // complete frames go through the front end together and through the
  // network in one batch per frame count (a batch's rows must be equally
  // long). The streams must share the front end and the model; each at most
  // once. Returns each push's outputs, in order.
  struct Piece {
    FrameStream* stream;
    const float* samples;
    int64_t n;
  };
  static Result<std::vector<std::vector<float>>> PushMany(const std::vector<Piece>& pieces);

  int64_t frames() const { return frames_; }  // frames output so far
  const std::vector<float>& pending() const { return pending_; }
  const at::Tensor& state() const { return state_; }

 private:
  const audio::FeatureExtractor& extractor_;
  std::shared_ptr<StreamingModel> model_;
  std::vector<float> pending_;  // samples from the start of the next frame on
  at::Tensor state_;
  int64_t frames_ = 0;
};

}  // namespace chorus::models
