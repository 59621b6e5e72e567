#include "common/models/speaker_model.h"

#include <torch/torch.h>

namespace chorus::models {
namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

// conv -> ReLU -> batch norm (or nothing, with norm: none).
class ConvReluBnImpl : public nn::Module {
 public:
  ConvReluBnImpl(bool batch_norm, int64_t in, int64_t out, int64_t kernel, int64_t dilation = 1) {
    conv_ = register_module("conv", nn::Conv1d(nn::Conv1dOptions(in, out, kernel)
                                                   .dilation(dilation)
                                                   .padding(dilation * (kernel - 1) / 2)));
    if (batch_norm) bn_ = register_module("bn", nn::BatchNorm1d(out));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = torch::relu(conv_->forward(x));
    return bn_ ? bn_->forward(y) : y;
  }

 private:
  nn::Conv1d conv_{nullptr};
  nn::BatchNorm1d bn_{nullptr};
};
TORCH_MODULE(ConvReluBn);

// 1x1 conv, dilated kernel-3 conv, squeeze-excitation, residual.
class SeBlockImpl : public nn::Module {
 public:
  SeBlockImpl(bool bn, int64_t channels, int64_t dilation) {
    pointwise_ = register_module("pointwise", ConvReluBn(bn, channels, channels, 1));
    dilated_ = register_module("dilated", ConvReluBn(bn, channels, channels, 3, dilation));
    const int64_t squeezed = std::max<int64_t>(4, channels / 8);
    se_down_ = register_module("se_down", nn::Linear(channels, squeezed));
    se_up_ = register_module("se_up", nn::Linear(squeezed, channels));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = dilated_->forward(pointwise_->forward(x));
    const torch::Tensor gate = torch::sigmoid(se_up_->forward(torch::relu(se_down_->forward(y.mean(2)))));
    return x + y * gate.unsqueeze(2);
  }

 private:
  ConvReluBn pointwise_{nullptr}, dilated_{nullptr};
  nn::Linear se_down_{nullptr}, se_up_{nullptr};
};
TORCH_MODULE(SeBlock);

class EcapaLite : public Model {
 public:
  EcapaLite(const config::ModelSpec& s, const InputShape& shape) : dim_(s.embedding_dim) {
    const bool bn = s.norm == "batch";
    const int64_t c = s.width, h = 3 * s.width;
    front_ = register_module("front", ConvReluBn(bn, shape.bins, c, 5));
    for (int64_t i = 0; i < 3; ++i) blocks_.push_back(register_module("block" + std::to_string(i), SeBlock(bn, c, i + 2)));
    aggregate_ = register_module("aggregate", ConvReluBn(bn, 3 * c, h, 1));
    attention_ = register_module(
        "attention", nn::Sequential(nn::Conv1d(nn::Conv1dOptions(h, 128, 1)), nn::Tanh(),
                                    nn::Conv1d(nn::Conv1dOptions(128, h, 1))));
    if (bn) pooled_bn_ = register_module("pooled_bn", nn::BatchNorm1d(2 * h));
    embed_ = register_module("embed", nn::Linear(2 * h, dim_));
    if (bn) embed_bn_ = register_module("embed_bn", nn::BatchNorm1d(dim_));
    head_ = register_parameter("head", torch::empty({shape.num_classes, dim_}));
    nn::init::xavier_normal_(head_);
  }

  int64_t embedding_dim() const override { return dim_; }

  torch::Tensor forward(torch::Tensor x) override {
    torch::Tensor y = front_->forward(x.transpose(1, 2));  // [B, C, T]
    std::vector<torch::Tensor> outs;
    for (auto& block : blocks_) {
      y = block->forward(y);
      outs.push_back(y);
    }
    const torch::Tensor hidden = aggregate_->forward(torch::cat(outs, 1));  // [B, H, T]
    const torch::Tensor w = torch::softmax(attention_->forward(hidden), 2);
    const torch::Tensor mean = (hidden * w).sum(2);
    const torch::Tensor std = torch::sqrt(((hidden * hidden * w).sum(2) - mean * mean).clamp_min(1e-5));
    torch::Tensor pooled = torch::cat({mean, std}, 1);
    if (pooled_bn_) pooled = pooled_bn_->forward(pooled);
    torch::Tensor embedding = embed_->forward(pooled);
    if (embed_bn_) embedding = embed_bn_->forward(embedding);
    if (!is_training()) return embedding;
    return torch::mm(F::normalize(embedding, F::NormalizeFuncOptions().dim(1)),
                     F::normalize(head_, F::NormalizeFuncOptions().dim(1)).t());
  }

 private:
  int64_t dim_;
  ConvReluBn front_{nullptr}, aggregate_{nullptr};
  std::vector<SeBlock> blocks_;
  nn::Sequential attention_{nullptr};
  nn::BatchNorm1d pooled_bn_{nullptr}, embed_bn_{nullptr};
  nn::Linear embed_{nullptr};
  torch::Tensor head_;
};

}  // namespace

ModelPtr MakeEcapaLite(const config::ModelSpec& spec, const InputShape& shape) {
  return std::make_shared<EcapaLite>(spec, shape);
}

}  // namespace chorus::models
