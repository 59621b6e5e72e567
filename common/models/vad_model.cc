#include "common/models/vad_model.h"

#include <torch/torch.h>

namespace chorus::models {
namespace {

namespace nn = torch::nn;

constexpr int64_t kKernel = 3;
constexpr int64_t kContext = kKernel - 1;  // frames of left context a conv keeps

class VadCrnn : public StreamingModel {
 public:
  VadCrnn(const config::ModelSpec& s, const InputShape& shape)
      : bins_(shape.bins), channels_(s.width), hidden_(s.hidden) {
    input_norm_ = register_module("input_norm", nn::BatchNorm1d(bins_));
    conv1_ = register_module("conv1", nn::Conv1d(nn::Conv1dOptions(bins_, channels_, kKernel).bias(false)));
    bn1_ = register_module("bn1", nn::BatchNorm1d(channels_));
    conv2_ = register_module("conv2", nn::Conv1d(nn::Conv1dOptions(channels_, channels_, kKernel).bias(false)));
    bn2_ = register_module("bn2", nn::BatchNorm1d(channels_));
    gru_ = register_module("gru", nn::GRU(nn::GRUOptions(channels_, hidden_).num_layers(1).batch_first(true)));
    dropout_ = register_module("dropout", nn::Dropout(s.dropout));
    head_ = register_module("head", nn::Linear(hidden_, 1));
  }

  // Batch-norm statistics change in training without a version bump of
  // their tensors: switching modes drops the folded weights.
  void train(bool on = true) override {
    fused_ = Fused();
    StreamingModel::train(on);
  }

  int64_t state_size() const override { return kContext * bins_ + kContext * channels_ + hidden_; }

  torch::Tensor InitialState(int64_t batch) override {
    return torch::zeros({batch, state_size()}, head_->weight.options());
  }

  torch::Tensor forward(torch::Tensor x) override {
    torch::Tensor state = InitialState(x.size(0));
    return ForwardChunk(x, state);
  }

  torch::Tensor ForwardChunk(const torch::Tensor& x, torch::Tensor& state) override {
    const int64_t b = x.size(0), t = x.size(1);
    if (t == 0) return torch::zeros({b, 0}, x.options());
    const int64_t a = kContext * bins_, c = kContext * channels_;
    torch::Tensor ctx1 = state.narrow(1, 0, a).view({b, bins_, kContext});
    torch::Tensor ctx2 = state.narrow(1, a, c).view({b, channels_, kContext});
    torch::Tensor h = state.narrow(1, a + c, hidden_).unsqueeze(0).contiguous();  // [1, B, H]

    // The context frames are raw features: normalisation comes after it, so
    // in eval mode it folds into the first convolution (as each batch norm
    // folds into the convolution before it).
    torch::Tensor in1 = torch::cat({ctx1, x.transpose(1, 2)}, 2);  // [B, F, 2 + t]
    torch::Tensor in2, y;
    if (is_training()) {
      y = torch::relu(bn1_->forward(conv1_->forward(input_norm_->forward(in1))));  // [B, C, t]
      in2 = torch::cat({ctx2, y}, 2);
      y = torch::relu(bn2_->forward(conv2_->forward(in2)));
    } else {
      const Fused& f = FusedWeights();
      y = torch::relu(torch::conv1d(in1, f.w1, f.b1));
      in2 = torch::cat({ctx2, y}, 2);
      y = torch::relu(torch::conv1d(in2, f.w2, f.b2));
    }
    auto [seq, h_new] = gru_->forward(y.transpose(1, 2), h);                   // [B, t, H]
    torch::Tensor logits = head_->forward(dropout_->forward(seq)).squeeze(2);  // [B, t]

    state = torch::cat({in1.narrow(2, t, kContext).reshape({b, a}), in2.narrow(2, t, kContext).reshape({b, c}),
                        h_new.squeeze(0)},
                       1);
    return logits;
  }

 private:
  // Eval-mode weights with the batch norms folded in, rebuilt after a mode
  // switch or when a weight or statistic they come from has been replaced
  // or changed in place (loading, an optimizer step).
  struct Fused {
    torch::Tensor w1, b1, w2, b2;
    std::vector<int64_t> versions;
  };

  std::vector<torch::Tensor> FusedSources() const {
    return {input_norm_->weight, input_norm_->bias, input_norm_->running_mean, input_norm_->running_var,
            conv1_->weight,      bn1_->weight,      bn1_->bias,               bn1_->running_mean,
            bn1_->running_var,   conv2_->weight,    bn2_->weight,             bn2_->bias,
            bn2_->running_mean,  bn2_->running_var};
  }

  // y = x * scale + shift for a batch norm in eval mode.
  static std::pair<torch::Tensor, torch::Tensor> Affine(const nn::BatchNorm1d& bn) {
    torch::Tensor scale = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
    return {scale, bn->bias - bn->running_mean * scale};
  }

  const Fused& FusedWeights() {
    std::vector<int64_t> versions;
    for (const auto& p : FusedSources()) versions.push_back(p._version());
    if (versions == fused_.versions && fused_.w1.defined()) return fused_;
    torch::NoGradGuard no_grad;
    auto [s0, t0] = Affine(input_norm_);
    auto [s1, t1] = Affine(bn1_);
    auto [s2, t2] = Affine(bn2_);
    const torch::Tensor w1 = conv1_->weight;                                         // [C, F, K]
    fused_.w1 = (w1 * s0.view({1, -1, 1}) * s1.view({-1, 1, 1})).contiguous();
    fused_.b1 = s1 * (w1 * t0.view({1, -1, 1})).sum({1, 2}) + t1;
    fused_.w2 = (conv2_->weight * s2.view({-1, 1, 1})).contiguous();
    fused_.b2 = t2.clone();
    fused_.versions = std::move(versions);
    return fused_;
  }

  Fused fused_;
  int64_t bins_, channels_, hidden_;
  nn::BatchNorm1d input_norm_{nullptr}, bn1_{nullptr}, bn2_{nullptr};
  nn::Conv1d conv1_{nullptr}, conv2_{nullptr};
  nn::GRU gru_{nullptr};
  nn::Dropout dropout_{nullptr};
  nn::Linear head_{nullptr};
};

}  // namespace

ModelPtr MakeVadCrnn(const config::ModelSpec& spec, const InputShape& shape) {
  return std::make_shared<VadCrnn>(spec, shape);
}

}  // namespace chorus::models
