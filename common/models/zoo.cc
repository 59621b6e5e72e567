// The four architectures of the zoo. Each is small, batch-norm based and
// sized by ModelSpec::width; all accept any frames x bins large enough for
// their pooling (checked by CreateModel with a dry forward pass).
#include <optional>

#include <torch/torch.h>

#include "common/models/model.h"
#include "common/models/speaker_model.h"
#include "common/models/vad_model.h"

namespace chorus::models {
namespace {

namespace nn = torch::nn;

// The 2-D models run in channels-last memory format: oneDNN's convolutions
// and the batch norms between them are markedly faster on CPUs that way
// (bench/train_bench). Weights are stored channels-last once; inputs are
// converted at the top of forward().
// Channels-last strides even where a size-1 dimension makes contiguous() a
// no-op (one input channel): oneDNN then takes its channels-last kernels from
// the first convolution on.
torch::Tensor ChannelsLastCopy(const torch::Tensor& t) {
  torch::Tensor out = at::empty(t.sizes(), t.options().memory_format(at::MemoryFormat::ChannelsLast));
  return out.copy_(t);
}

void UseChannelsLast(nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(ChannelsLastCopy(p.data()));
  }
}

torch::Tensor AsImage(const torch::Tensor& x) { return ChannelsLastCopy(x.unsqueeze(1)); }  // [B, 1, T, F]

// conv -> batch norm -> ReLU, the unit every 2-D model here is built from
// (conv with a bias and no batch norm when the spec says norm: none).
class ConvBnReluImpl : public nn::Module {
 public:
  ConvBnReluImpl(bool batch_norm, int64_t in, int64_t out, torch::ExpandingArray<2> kernel,
                 torch::ExpandingArray<2> stride = 1, int64_t groups = 1) {
    torch::ExpandingArray<2> padding({(*kernel)[0] / 2, (*kernel)[1] / 2});
    conv_ = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding)
                                                   .groups(groups).bias(!batch_norm)));
    if (batch_norm) bn_ = register_module("bn", nn::BatchNorm2d(out));
  }
  torch::Tensor forward(torch::Tensor x) {
    x = conv_->forward(x);
    return torch::relu(bn_ ? bn_->forward(x) : x);
  }

 private:
  nn::Conv2d conv_{nullptr};
  nn::BatchNorm2d bn_{nullptr};
};
TORCH_MODULE(ConvBnRelu);

// VGG-style CNN: pairs of 3x3 convolutions with max-pooling, then fully
// connected layers (the network of the original design).
class Vgg : public Model {
 public:
  Vgg(const config::ModelSpec& s, const InputShape& shape) {
    const bool bn = s.norm == "batch";
    const int64_t w = s.width;
    features_ = register_module(
        "features",
        nn::Sequential(ConvBnRelu(bn, 1, w / 2, 3), ConvBnRelu(bn, w / 2, w / 2, 3), nn::MaxPool2d(2),
                       ConvBnRelu(bn, w / 2, w, 3), ConvBnRelu(bn, w, w, 3), nn::MaxPool2d(2),
                       ConvBnRelu(bn, w, 2 * w, 3), ConvBnRelu(bn, 2 * w, 2 * w, 3), nn::MaxPool2d(2),
                       nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({2, 2}))));
    classifier_ = register_module(
        "classifier", nn::Sequential(nn::Flatten(), nn::Linear(8 * w, 4 * w), nn::ReLU(), nn::Dropout(s.dropout),
                                     nn::Linear(4 * w, shape.num_classes)));
    UseChannelsLast(*this);
  }
  torch::Tensor forward(torch::Tensor x) override { return classifier_->forward(features_->forward(AsImage(x))); }

 private:
  nn::Sequential features_{nullptr}, classifier_{nullptr};
};

// DS-CNN (Zhang et al., "Hello Edge"): a strided 10x4 convolution, then
// depthwise-separable blocks, global average pooling and one linear layer.
class DsCnn : public Model {
 public:
  DsCnn(const config::ModelSpec& s, const InputShape& shape) {
    const bool bn = s.norm == "batch";
    const int64_t w = s.width;
    nn::Sequential body(ConvBnRelu(bn, 1, w, torch::ExpandingArray<2>({10, 4}), torch::ExpandingArray<2>({2, 2})));
    for (int i = 0; i < 4; ++i) {
      body->push_back(ConvBnRelu(bn, w, w, 3, 1, /*groups=*/w));  // depthwise
      body->push_back(ConvBnRelu(bn, w, w, 1));                    // pointwise
    }
    body->push_back(nn::AdaptiveAvgPool2d(1));
    body->push_back(nn::Flatten());
    body->push_back(nn::Dropout(s.dropout));
    body_ = register_module("body", body);
    head_ = register_module("head", nn::Linear(w, shape.num_classes));
    UseChannelsLast(*this);
  }
  torch::Tensor forward(torch::Tensor x) override { return head_->forward(body_->forward(AsImage(x))); }

 private:
  nn::Sequential body_{nullptr};
  nn::Linear head_{nullptr};
};

// One residual block of TC-ResNet: two temporal convolutions (k=9), the first
// possibly strided, with a 1x1 projection on the shortcut when shapes change.
class TcBlockImpl : public nn::Module {
 public:
  TcBlockImpl(bool bn, int64_t in, int64_t out, int64_t stride) {
    conv1_ = register_module("conv1", nn::Conv1d(nn::Conv1dOptions(in, out, 9).stride(stride).padding(4).bias(!bn)));
    conv2_ = register_module("conv2", nn::Conv1d(nn::Conv1dOptions(out, out, 9).padding(4).bias(!bn)));
    if (bn) {
      bn1_ = register_module("bn1", nn::BatchNorm1d(out));
      bn2_ = register_module("bn2", nn::BatchNorm1d(out));
    }
    if (in != out || stride != 1) {
      nn::Sequential shortcut(nn::Conv1d(nn::Conv1dOptions(in, out, 1).stride(stride).bias(!bn)));
      if (bn) shortcut->push_back(nn::BatchNorm1d(out));
      shortcut_ = register_module("shortcut", shortcut);
    }
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor y = conv1_->forward(x);
    y = torch::relu(bn1_ ? bn1_->forward(y) : y);
    y = conv2_->forward(y);
    if (bn2_) y = bn2_->forward(y);
    torch::Tensor skip = shortcut_ ? shortcut_->forward(x) : x;
    return torch::relu(y + skip);
  }

 private:
  nn::Conv1d conv1_{nullptr}, conv2_{nullptr};
  nn::BatchNorm1d bn1_{nullptr}, bn2_{nullptr};
  nn::Sequential shortcut_{nullptr};
};
TORCH_MODULE(TcBlock);

// TC-ResNet8 (Choi et al.): frequency bins as channels, 1-D temporal
// convolutions, three strided residual blocks. width/16 is the width multiplier.
class TcResNet : public Model {
 public:
  TcResNet(const config::ModelSpec& s, const InputShape& shape) {
    const bool bn = s.norm == "batch";
    auto c = [&](int64_t base) { return std::max<int64_t>(4, base * s.width / 16); };
    stem_ = register_module("stem", nn::Conv1d(nn::Conv1dOptions(shape.bins, c(16), 3).padding(1).bias(false)));
    blocks_ = register_module("blocks", nn::Sequential(TcBlock(bn, c(16), c(24), 2), TcBlock(bn, c(24), c(32), 2),
                                                       TcBlock(bn, c(32), c(48), 2)));
    dropout_ = register_module("dropout", nn::Dropout(s.dropout));
    head_ = register_module("head", nn::Linear(c(48), shape.num_classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    torch::Tensor y = blocks_->forward(stem_->forward(x.transpose(1, 2)));  // [B, C, T]
    return head_->forward(dropout_->forward(y.mean(2)));
  }

 private:
  nn::Conv1d stem_{nullptr};
  nn::Sequential blocks_{nullptr};
  nn::Dropout dropout_{nullptr};
  nn::Linear head_{nullptr};
};

// CRNN: two conv blocks pooling frequency (and time once), a bidirectional
// GRU over time, mean over time, one linear layer.
class Crnn : public Model {
 public:
  Crnn(const config::ModelSpec& s, const InputShape& shape) {
    const bool bn = s.norm == "batch";
    const int64_t w = s.width;
    conv_ = register_module("conv", nn::Sequential(ConvBnRelu(bn, 1, w / 2, 3), nn::MaxPool2d(nn::MaxPool2dOptions({2, 2})),
                                                   ConvBnRelu(bn, w / 2, w, 3), nn::MaxPool2d(nn::MaxPool2dOptions({1, 2}))));
    const int64_t pooled_bins = shape.bins / 2 / 2;
    gru_ = register_module("gru", nn::GRU(nn::GRUOptions(w * pooled_bins, s.hidden).num_layers(2).batch_first(true)
                                              .bidirectional(true).dropout(s.dropout)));
    head_ = register_module("head", nn::Linear(2 * s.hidden, shape.num_classes));
    UseChannelsLast(*this);
  }
  torch::Tensor forward(torch::Tensor x) override {
    torch::Tensor y = conv_->forward(AsImage(x));          // [B, C, T', F']
    y = y.permute({0, 2, 1, 3}).flatten(2);                 // [B, T', C*F']
    torch::Tensor seq = std::get<0>(gru_->forward(y));      // [B, T', 2H]
    return head_->forward(seq.mean(1));
  }

 private:
  nn::Sequential conv_{nullptr};
  nn::GRU gru_{nullptr};
  nn::Linear head_{nullptr};
};

}  // namespace

const std::vector<std::string>& ModelNames() {
  static const std::vector<std::string> names = {"vgg", "ds_cnn", "tc_resnet", "crnn", "vad_crnn", "ecapa_lite"};
  return names;
}

namespace {

// The device of the first parameter met depth first, without collecting them
// all: a streaming worker asks for every chunk (it was 7% of its time).
std::optional<c10::Device> FirstParameterDevice(const torch::nn::Module& m) {
  for (const torch::Tensor& p : m.parameters(/*recurse=*/false)) return p.device();
  for (const auto& child : m.children())
    if (std::optional<c10::Device> d = FirstParameterDevice(*child)) return d;
  return std::nullopt;
}

}  // namespace

c10::Device Model::device() const { return FirstParameterDevice(*this).value_or(c10::Device(c10::kCPU)); }

bool IsPerFrameModel(const std::string& name) { return name == "vad_crnn"; }

bool IsEmbeddingModel(const std::string& name) { return name == "ecapa_lite"; }

Result<ModelPtr> CreateModel(const config::ModelSpec& spec, const InputShape& shape) {
  const int64_t min_outputs = IsPerFrameModel(spec.name) ? 1 : 2;  // per-frame models give one output per frame
  if (shape.frames < 1 || shape.bins < 1 || shape.num_classes < min_outputs) {
    return InvalidArgument("model input shape must have frames >= 1, bins >= 1 and at least " +
                           std::to_string(min_outputs) + (min_outputs == 1 ? " output" : " classes") + "; got " +
                           std::to_string(shape.frames) + " frames, " + std::to_string(shape.bins) + " bins, " +
                           std::to_string(shape.num_classes) + " classes");
  }
  if (spec.width < 4) return InvalidArgument("model width must be >= 4, got " + std::to_string(spec.width));
  if (spec.norm != "batch" && spec.norm != "none") {
    return InvalidArgument("model norm must be batch or none, got '" + spec.norm + "'");
  }
  ModelPtr model;
  try {
    if (spec.name == "vgg") model = std::make_shared<Vgg>(spec, shape);
    else if (spec.name == "ds_cnn") model = std::make_shared<DsCnn>(spec, shape);
    else if (spec.name == "tc_resnet") model = std::make_shared<TcResNet>(spec, shape);
    else if (spec.name == "crnn") model = std::make_shared<Crnn>(spec, shape);
    else if (spec.name == "vad_crnn") model = MakeVadCrnn(spec, shape);
    else if (spec.name == "ecapa_lite") model = MakeEcapaLite(spec, shape);
    else return InvalidArgument("unknown model '" + spec.name +
                                "' (known: vgg, ds_cnn, tc_resnet, crnn, vad_crnn, ecapa_lite)");
    // A dry run proves the input is large enough for the model's pooling.
    torch::NoGradGuard no_grad;
    model->eval();
    torch::Tensor out = model->forward(torch::zeros({2, shape.frames, shape.bins}));
    model->train();
    const int64_t want = model->per_frame()         ? shape.frames
                         : model->embedding_dim() > 0 ? model->embedding_dim()
                                                      : shape.num_classes;
    if (out.dim() != 2 || out.size(1) != want) {
      return Internal("model '" + spec.name + "' produced logits of shape " + c10::str(out.sizes()));
    }
  } catch (const c10::Error& e) {
    return InvalidArgument("model '" + spec.name + "' cannot take input of " + std::to_string(shape.frames) +
                           " frames x " + std::to_string(shape.bins) + " bins: " + e.what_without_backtrace());
  }
  return model;
}

int64_t CountParameters(Model& model) {
  int64_t n = 0;
  for (const auto& p : model.parameters()) n += p.numel();
  return n;
}

}  // namespace chorus::models
