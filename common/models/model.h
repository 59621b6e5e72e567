// The model zoo: every Chorus model maps features [batch, frames, bins] to
// one output vector per clip, [batch, num_classes] (vgg, ds_cnn, tc_resnet,
// crnn: keyword spotting), one output per frame, [batch, frames] (vad_crnn:
// voice activity), or an embedding per clip, [batch, embedding_dim] in eval
// mode and cosines to num_classes training speakers in training mode
// (ecapa_lite: speakers). Models are chosen by name through
// CreateModel, which validates the spec and the input shape and returns a
// Status instead of a half-built module. Per-frame models are causal and
// stream: ForwardChunk over consecutive chunks, with the state carried,
// gives what forward() gives for the whole input. A model is a LibTorch
// module: not thread-safe for training; concurrent forward() calls in eval
// mode under torch::NoGradGuard are fine (a stream's state is the caller's).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "common/config/job_spec.h"
#include "common/util/status.h"

namespace chorus::models {

struct InputShape {
  int64_t frames = 0;
  int64_t bins = 0;
  int64_t num_classes = 0;
};

class Model : public torch::nn::Module {
 public:
  // x: [batch, frames, bins] float; returns [batch, num_classes] or, for a
  // per-frame model, [batch, frames].
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  virtual bool per_frame() const { return false; }
  // > 0 for an embedding model: the size of what forward() returns in eval mode.
  virtual int64_t embedding_dim() const { return 0; }
  // Where its parameters live (the CPU for a model without any).
  c10::Device device() const;
};

// A per-frame model that runs over a stream chunk by chunk.
class StreamingModel : public Model {
 public:
  bool per_frame() const override { return true; }
  // The state before the first chunk: [batch, state_size()], zeros, on the model's device.
  virtual torch::Tensor InitialState(int64_t batch) = 0;
  virtual int64_t state_size() const = 0;
  // x: [batch, frames, bins] (frames may be 0); updates `state`; returns [batch, frames].
  virtual torch::Tensor ForwardChunk(const torch::Tensor& x, torch::Tensor& state) = 0;
};

using ModelPtr = std::shared_ptr<Model>;

const std::vector<std::string>& ModelNames();

// True for the zoo's per-frame models (vad_crnn), false for its per-clip ones.
bool IsPerFrameModel(const std::string& name);
// True for the zoo's embedding models (ecapa_lite).
bool IsEmbeddingModel(const std::string& name);

Result<ModelPtr> CreateModel(const config::ModelSpec& spec, const InputShape& shape);

int64_t CountParameters(Model& model);

}  // namespace chorus::models
