// The model zoo: every Chorus model maps features [batch, frames, bins] to
// logits [batch, classes]. Models are chosen by name (vgg, ds_cnn, tc_resnet,
// crnn) through CreateModel, which validates the spec and the input shape and
// returns a Status instead of a half-built module. A model is a LibTorch
// module: not thread-safe for training; concurrent forward() calls in eval
// mode under torch::NoGradGuard are fine.
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
  // x: [batch, frames, bins] float; returns logits [batch, num_classes].
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};

using ModelPtr = std::shared_ptr<Model>;

const std::vector<std::string>& ModelNames();

Result<ModelPtr> CreateModel(const config::ModelSpec& spec, const InputShape& shape);

int64_t CountParameters(Model& model);

}  // namespace chorus::models
