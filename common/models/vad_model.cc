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

    torch::Tensor in1 = torch::cat({ctx1, input_norm_->forward(x.transpose(1, 2))}, 2);  // [B, F, 2 + t]
    torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(in1)));                  // [B, C, t]
    torch::Tensor in2 = torch::cat({ctx2, y}, 2);
    y = torch::relu(bn2_->forward(conv2_->forward(in2)));                                // [B, C, t]
    auto [seq, h_new] = gru_->forward(y.transpose(1, 2), h);                             // [B, t, H]
    torch::Tensor logits = head_->forward(dropout_->forward(seq)).squeeze(2);            // [B, t]

    state = torch::cat({in1.narrow(2, t, kContext).reshape({b, a}), in2.narrow(2, t, kContext).reshape({b, c}),
                        h_new.squeeze(0)},
                       1);
    return logits;
  }

 private:
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
