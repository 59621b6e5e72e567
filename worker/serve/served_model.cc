#include "worker/serve/served_model.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/audio/features.h"
#include "common/audio/wav_io.h"
#include "common/audio/resample.h"
#include "common/models/device.h"
#include "common/models/model_bundle.h"
#include "common/util/fs.h"

namespace chorus::serve {

namespace fs = std::filesystem;

namespace {

// Everything but the network: the front end, input checks and top-k.
class ModelBase : public ServedModel {
 public:
  ModelBase(proto::ServedModelInfo info, audio::FeatureExtractor extractor, c10::Device device)
      : device_(device), extractor_(std::move(extractor)) {
    info_ = std::move(info);
  }

  Result<at::Tensor> Prepare(const proto::InferRequest& r) const override {
    const int rate = info_.sample_rate();
    audio::Waveform wave;
    switch (r.input_case()) {
      case proto::InferRequest::kWav: {
        audio::ReadOptions o;
        o.target_sample_rate = rate;
        auto decoded = audio::DecodeAudio(r.wav(), "the request's audio", o);
        if (!decoded.ok()) return InvalidArgument(decoded.status().message());  // the client's bytes, not our disk
        wave = std::move(*decoded);
        break;
      }
      case proto::InferRequest::kPcm: {
        const auto& pcm = r.pcm();
        if (pcm.sample_rate() < audio::kMinSampleRate || pcm.sample_rate() > audio::kMaxSampleRate)
          return InvalidArgument("pcm.sample_rate " + std::to_string(pcm.sample_rate()) + " is not a usable rate");
        if (pcm.samples_size() == 0) return InvalidArgument("pcm has no samples");
        wave.samples.assign(pcm.samples().begin(), pcm.samples().end());
        wave.sample_rate = pcm.sample_rate();
        for (float v : wave.samples)
          if (!std::isfinite(v)) return InvalidArgument("pcm samples contain NaN or infinity");
        if (wave.sample_rate != rate) {
          ASSIGN_OR_RETURN(wave.samples, audio::Resample(wave.samples, wave.sample_rate, rate));
          wave.sample_rate = rate;
        }
        break;
      }
      case proto::InferRequest::kFeatures: {
        const auto& f = r.features();
        if (f.shape_size() != 2 || f.shape(0) != info_.frames() || f.shape(1) != info_.bins())
          return InvalidArgument("features must have shape [" + std::to_string(info_.frames()) + ", " +
                                 std::to_string(info_.bins()) + "]");
        if (f.data_size() != info_.frames() * info_.bins())
          return InvalidArgument("features have " + std::to_string(f.data_size()) + " values, shape says " +
                                 std::to_string(info_.frames() * info_.bins()));
        for (float v : f.data())
          if (!std::isfinite(v)) return InvalidArgument("features contain NaN or infinity");
        return torch::from_blob(const_cast<float*>(f.data().data()), {info_.frames(), info_.bins()}, torch::kFloat32)
            .clone();
      }
      default:
        return InvalidArgument("the request has no input (wav, pcm or features)");
    }
    const int64_t clip = static_cast<int64_t>(std::llround(info_.clip_seconds() * rate));
    std::vector<float> fitted = audio::FitToLength(wave.samples, clip);
    ASSIGN_OR_RETURN(at::Tensor features, extractor_.Compute(fitted));
    if (features.size(0) != info_.frames() || features.size(1) != info_.bins())
      return Internal("front end made [" + std::to_string(features.size(0)) + ", " +
                      std::to_string(features.size(1)) + "] features for a model that takes [" +
                      std::to_string(info_.frames()) + ", " + std::to_string(info_.bins()) + "]");
    return features;
  }

  Status Predict(const std::vector<at::Tensor>& inputs, const std::vector<const proto::InferRequest*>& requests,
                 std::vector<proto::InferReply*>& replies) override {
    if (inputs.empty()) return Status::Ok();
    try {
      torch::NoGradGuard no_grad;
      at::Tensor batch;
      if (device_.is_cuda()) {
        // Stacked straight into page-locked memory: one asynchronous copy up.
        const at::Tensor& first = inputs.front();
        batch = torch::empty({static_cast<int64_t>(inputs.size()), first.size(0), first.size(1)},
                             torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(true));
        torch::stack_out(batch, inputs);
        batch = batch.to(device_, /*non_blocking=*/true);
      } else {
        batch = torch::stack(inputs);
      }
      at::Tensor logits = Forward(batch).to(torch::kCPU, torch::kFloat32).contiguous();
      at::Tensor probs = torch::softmax(logits, 1).contiguous();
      const int64_t classes = logits.size(1);
      const float* lp = logits.data_ptr<float>();
      const float* pp = probs.data_ptr<float>();
      for (size_t i = 0; i < inputs.size(); ++i) {
        const int k = std::clamp<int>(requests[i]->top_k() > 0 ? requests[i]->top_k() : 1, 1,
                                      static_cast<int>(classes));
        std::vector<int64_t> order(classes);
        for (int64_t c = 0; c < classes; ++c) order[c] = c;
        const float* row = pp + i * classes;
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [row](int64_t a, int64_t b) { return row[a] > row[b]; });
        for (int j = 0; j < k; ++j) {
          proto::Label* label = replies[i]->add_top();
          label->set_label(order[j] < info_.labels_size() ? info_.labels(order[j]) : std::to_string(order[j]));
          label->set_score(row[order[j]]);
        }
        if (requests[i]->want_logits())
          replies[i]->mutable_logits()->Add(lp + i * classes, lp + (i + 1) * classes);
      }
    } catch (const c10::Error& e) {
      return Internal("model " + info_.name() + ": " + e.what_without_backtrace());
    }
    return Status::Ok();
  }

 protected:
  virtual at::Tensor Forward(const at::Tensor& batch) = 0;
  c10::Device device_;

 private:
  audio::FeatureExtractor extractor_;
};

class ChorusModel : public ModelBase {
 public:
  ChorusModel(proto::ServedModelInfo info, audio::FeatureExtractor fx, models::ModelPtr model, c10::Device device)
      : ModelBase(std::move(info), std::move(fx), device), model_(std::move(model)) {
    model_->to(device);
  }

 private:
  at::Tensor Forward(const at::Tensor& batch) override { return model_->forward(batch); }
  models::ModelPtr model_;
};

class ScriptModel : public ModelBase {
 public:
  ScriptModel(proto::ServedModelInfo info, audio::FeatureExtractor fx, torch::jit::Module module, c10::Device device)
      : ModelBase(std::move(info), std::move(fx), device), module_(std::move(module)) {
    module_.to(device);
  }

 private:
  at::Tensor Forward(const at::Tensor& batch) override { return module_.forward({batch}).toTensor(); }
  torch::jit::Module module_;
};

Result<std::unique_ptr<ServedModel>> LoadTorchScript(const std::string& dir, c10::Device device) {
  const std::string json_path = dir + "/model.json";
  ASSIGN_OR_RETURN(std::string text, ReadFile(json_path));
  proto::ServedModelInfo info;
  audio::FeatureOptions features;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    if (j.value("format", "") != "torchscript-1")
      return InvalidArgument(json_path + ": format must be torchscript-1 next to model.ts");
    info.set_name(j.at("name").get<std::string>());
    info.set_version(j.value("version", int64_t{1}));
    for (const auto& l : j.at("labels")) info.add_labels(l.get<std::string>());
    info.set_frames(j.at("frames").get<int64_t>());
    info.set_bins(j.at("bins").get<int64_t>());
    info.set_clip_seconds(j.value("clip_seconds", 1.0));
    ASSIGN_OR_RETURN(features, audio::FeatureOptionsFromJson(j.at("features")));
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(json_path + ": " + e.what());
  }
  info.set_sample_rate(features.sample_rate);
  info.set_format("torchscript");
  ASSIGN_OR_RETURN(audio::FeatureExtractor fx, audio::FeatureExtractor::Create(features));
  try {
    torch::jit::Module module = torch::jit::load(dir + "/model.ts", torch::kCPU);
    module.eval();
    return std::unique_ptr<ServedModel>(new ScriptModel(info, std::move(fx), std::move(module), device));
  } catch (const c10::Error& e) {
    return InvalidArgument(dir + "/model.ts: not a TorchScript module: " + e.what_without_backtrace());
  }
}

}  // namespace

Result<std::unique_ptr<ServedModel>> ServedModel::Load(const std::string& dir, const std::string& device_name) {
  ASSIGN_OR_RETURN(c10::Device device, models::ResolveDevice(device_name));
  if (fs::exists(dir + "/model.ts")) return LoadTorchScript(dir, device);
  ASSIGN_OR_RETURN(models::LoadedModel loaded, models::LoadModel(dir));
  const auto& m = loaded.metadata;
  proto::ServedModelInfo info;
  info.set_name(m.name);
  info.set_version(m.version);
  for (const auto& l : m.labels) info.add_labels(l);
  info.set_frames(m.shape.frames);
  info.set_bins(m.shape.bins);
  info.set_sample_rate(m.features.sample_rate);
  info.set_clip_seconds(m.clip_seconds);
  info.set_format("chorus");
  ASSIGN_OR_RETURN(audio::FeatureExtractor fx, audio::FeatureExtractor::Create(m.features));
  try {
    return std::unique_ptr<ServedModel>(new ChorusModel(info, std::move(fx), loaded.model, device));
  } catch (const c10::Error& e) {
    return Internal("moving model " + info.name() + " to " + device.str() + ": " + e.what_without_backtrace());
  }
}

}  // namespace chorus::serve
