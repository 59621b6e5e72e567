#include "worker/serve/served_model.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/audio/features.h"
#include "common/audio/resample.h"
#include "common/audio/wav_io.h"
#include "common/models/device.h"
#include "common/models/frame_stream.h"
#include "common/models/model_bundle.h"
#include "common/tasks/keyword_spotter.h"
#include "common/tasks/task.h"
#include "common/util/fs.h"

namespace chorus::serve {

namespace fs = std::filesystem;

namespace {

// A recording longer than this is refused (memory is bounded by it); longer
// audio is for streaming sessions.
constexpr double kMaxRecordingSeconds = 1800;
// A clip model crops what it is sent to its clip; more than this is a mistake
// or an attack (decode and resample cost time on the serve loop).
constexpr double kMaxClipRequestSeconds = 60;
// Per-frame models run over a padded batch this many frames at a time, the
// stream state carried, so activations stay bounded however long the input.
constexpr int64_t kChunkFrames = 1000;
// A streaming session's chunk: audio as it comes, a few ms to a few seconds.
constexpr double kMaxStreamChunkSeconds = 10;
// A window stream's windows go through the network at most this many at a time.
constexpr size_t kMaxWindowBatch = 64;

// Keeps the span [start_s, end_s) of the audio (a pipeline's segment).
Status Crop(const proto::Span& span, int rate, std::vector<float>* samples) {
  if (!(span.start_s() >= 0 && span.end_s() > span.start_s()))
    return InvalidArgument("crop must have 0 <= start_s < end_s");
  const int64_t n = static_cast<int64_t>(samples->size());
  const int64_t from = std::min<int64_t>(n, std::llround(span.start_s() * rate));
  const int64_t to = std::min<int64_t>(n, std::llround(span.end_s() * rate));
  if (to <= from)
    return InvalidArgument("crop starts at " + std::to_string(span.start_s()) + " s, past the audio's end");
  *samples = std::vector<float>(samples->begin() + from, samples->begin() + to);
  return Status::Ok();
}

void AddSpec(google::protobuf::RepeatedPtrField<proto::TensorSpec>* out, const std::string& name,
             const std::string& datatype, const std::vector<int64_t>& shape) {
  proto::TensorSpec* s = out->Add();
  s->set_name(name);
  s->set_datatype(datatype);
  for (int64_t d : shape) s->add_shape(d);
}

// Everything but the network: the front end, input checks, batching and the task's decoding.
class ModelBase : public ServedModel {
 public:
  ModelBase(proto::ServedModelInfo info, audio::FeatureExtractor extractor, std::unique_ptr<tasks::Task> task,
            c10::Device device)
      : device_(device), task_(std::move(task)), extractor_(std::move(extractor)) {
    info_ = std::move(info);
    info_.set_task(task_->name());
    info_.clear_labels();
    for (const auto& l : task_->labels()) info_.add_labels(l);
    const bool clips = !task_->whole_recordings();
    AddSpec(info_.mutable_inputs(), "audio", "FP32", {-1});
    AddSpec(info_.mutable_inputs(), "features", "FP32", {clips ? info_.frames() : -1, info_.bins()});
    for (const auto& o : task_->Outputs()) AddSpec(info_.mutable_outputs(), o.name, o.datatype, o.shape);
    info_.set_parameters_json(task_->ServedParameters().dump());
    info_.set_streams(task_->streams() && task_->window_streaming().has_value());
  }

  double MaxAudioSeconds() const {
    return task_->whole_recordings() ? kMaxRecordingSeconds : std::max(kMaxClipRequestSeconds, info_.clip_seconds());
  }

  Result<at::Tensor> Prepare(const proto::InferRequest& r) const override {
    const int rate = info_.sample_rate();
    const bool clips = !task_->whole_recordings();
    audio::Waveform wave;
    switch (r.input_case()) {
      case proto::InferRequest::kWav: {
        audio::ReadOptions o;
        o.target_sample_rate = rate;
        o.max_seconds = MaxAudioSeconds();
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
        if (pcm.samples_size() > MaxAudioSeconds() * pcm.sample_rate())
          return InvalidArgument("the audio is " + std::to_string(pcm.samples_size() / pcm.sample_rate()) +
                                 " s long; at most " + std::to_string(static_cast<int64_t>(MaxAudioSeconds())) +
                                 " s per request for this model (split longer recordings)");
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
        if (r.has_crop()) return InvalidArgument("crop applies to audio, not to features");
        const auto& f = r.features();
        const bool frames_ok = f.shape_size() == 2 && (clips ? f.shape(0) == info_.frames() : f.shape(0) >= 1);
        if (!frames_ok || f.shape(1) != info_.bins())
          return InvalidArgument("features must have shape [" + (clips ? std::to_string(info_.frames()) : "frames") +
                                 ", " + std::to_string(info_.bins()) + "]");
        if (f.data_size() != f.shape(0) * f.shape(1))
          return InvalidArgument("features have " + std::to_string(f.data_size()) + " values, shape says " +
                                 std::to_string(f.shape(0) * f.shape(1)));
        for (float v : f.data())
          if (!std::isfinite(v)) return InvalidArgument("features contain NaN or infinity");
        return torch::from_blob(const_cast<float*>(f.data().data()), {f.shape(0), f.shape(1)}, torch::kFloat32)
            .clone();
      }
      default:
        return InvalidArgument("the request has no input (wav, pcm or features)");
    }
    if (r.has_crop()) RETURN_IF_ERROR(Crop(r.crop(), rate, &wave.samples));
    RETURN_IF_ERROR(task_->CheckAudio(wave.samples, rate));
    std::vector<float> samples;
    if (clips) {
      samples = audio::FitToLength(wave.samples, static_cast<int64_t>(std::llround(info_.clip_seconds() * rate)));
    } else {
      if (static_cast<int64_t>(wave.samples.size()) < extractor_.window_length())
        return InvalidArgument("the audio is " + std::to_string(wave.samples.size()) + " samples long, shorter than " +
                               "one frame of " + std::to_string(extractor_.window_length()) + " samples (" +
                               std::to_string(1000 * extractor_.window_length() / rate) + " ms)");
      samples = std::move(wave.samples);
    }
    ASSIGN_OR_RETURN(at::Tensor features, extractor_.Compute(samples));
    if (features.size(1) != info_.bins() || (clips && features.size(0) != info_.frames()))
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
      int64_t frames = 0;
      for (const auto& x : inputs) frames = std::max(frames, x.size(0));
      // Padded with zeros to the longest (clips are all one length). Straight
      // into page-locked memory for a GPU: one asynchronous copy up.
      at::Tensor batch = torch::zeros({static_cast<int64_t>(inputs.size()), frames, inputs.front().size(1)},
                                      torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(device_.is_cuda()));
      for (size_t i = 0; i < inputs.size(); ++i)
        batch[static_cast<int64_t>(i)].narrow(0, 0, inputs[i].size(0)).copy_(inputs[i]);
      batch = batch.to(device_, /*non_blocking=*/true);
      const at::Tensor output = Run(batch).to(torch::kCPU, torch::kFloat32).contiguous();
      const bool per_frame = task_->output_kind() == tasks::OutputKind::kPerFrame;
      for (size_t i = 0; i < inputs.size(); ++i) {
        at::Tensor row = output[static_cast<int64_t>(i)];
        if (per_frame) row = row.narrow(0, 0, inputs[i].size(0));  // its own frames, not the padding
        RETURN_IF_ERROR(task_->Decode(row, *requests[i], replies[i]));
      }
    } catch (const c10::Error& e) {
      return Internal("model " + info_.name() + ": " + e.what_without_backtrace());
    }
    return Status::Ok();
  }

  std::vector<Status> StreamChunks(const std::vector<const proto::InferRequest*>& requests,
                                   const std::vector<proto::InferReply*>& replies) override {
    std::vector<Status> status(requests.size());
    if (info_.streams() && task_->window_streaming()) return WindowChunks(requests, replies, *task_->window_streaming());
    const std::shared_ptr<models::StreamingModel> network = StreamingNetwork();
    if (!info_.streams() || !network) {
      std::fill(status.begin(), status.end(),
                InvalidArgument("model " + info_.name() + " does not stream (task " + task_->name() + ", " +
                                info_.format() + "); send whole clips or recordings without a sequence"));
      return status;
    }
    struct Session {
      size_t index;
      proto::StreamState state;
      std::unique_ptr<models::FrameStream> stream;
      int64_t first_frame = 0;
    };
    std::vector<Session> sessions;
    std::vector<models::FrameStream::Piece> pieces;
    for (size_t i = 0; i < requests.size(); ++i) {
      Session s{i, {}, nullptr, 0};
      if (Status ok = OpenChunk(*requests[i], network, &s.state, &s.stream); !ok.ok()) {
        status[i] = ok;
        continue;
      }
      s.first_frame = s.stream->frames();
      sessions.push_back(std::move(s));
    }
    for (Session& s : sessions)
      pieces.push_back({s.stream.get(), requests[s.index]->pcm().samples().data(), requests[s.index]->pcm().samples_size()});
    try {
      Result<std::vector<std::vector<float>>> outputs = models::FrameStream::PushMany(pieces);
      for (size_t j = 0; j < sessions.size(); ++j) {
        Session& s = sessions[j];
        if (!outputs.ok()) {
          status[s.index] = outputs.status();
          continue;
        }
        std::vector<float>& logits = (*outputs)[j];
        const at::Tensor row = torch::from_blob(logits.data(), {static_cast<int64_t>(logits.size())}, torch::kFloat32);
        const proto::InferRequest& r = *requests[s.index];
        status[s.index] = task_->DecodeChunk(row, s.first_frame, r.sequence().end(), r, &s.state, replies[s.index]);
        if (!status[s.index].ok()) continue;
        const at::Tensor carried = s.stream->state().to(torch::kCPU, torch::kFloat32).contiguous();
        s.state.mutable_model_state()->Assign(carried.data_ptr<float>(), carried.data_ptr<float>() + carried.numel());
        s.state.mutable_pending()->Assign(s.stream->pending().begin(), s.stream->pending().end());
        s.state.set_frames(s.stream->frames());
        s.state.set_sample_rate(info_.sample_rate());
        replies[s.index]->set_stream_state(s.state.SerializeAsString());
      }
    } catch (const c10::Error& e) {
      for (const Session& s : sessions) status[s.index] = Internal("model " + info_.name() + ": " + e.what_without_backtrace());
    }
    return status;
  }

 protected:
  // The network, when it runs over a stream chunk by chunk (else null).
  virtual std::shared_ptr<models::StreamingModel> StreamingNetwork() const { return nullptr; }
  // [B, frames, bins] on the device to the model's output.
  virtual at::Tensor Run(const at::Tensor& batch) = 0;
  c10::Device device_;
  std::unique_ptr<tasks::Task> task_;

 private:
  // A stream chunk's audio: PCM at the model's rate, of bounded length, finite.
  Status CheckChunk(const proto::InferRequest& r) const {
    const int rate = info_.sample_rate();
    if (r.input_case() != proto::InferRequest::kPcm)
      return InvalidArgument("a stream chunk must be PCM audio (the 'audio' input) at the model's rate, " +
                             std::to_string(rate) + " Hz");
    const auto& pcm = r.pcm();
    if (pcm.sample_rate() != rate)
      return InvalidArgument("a stream chunk must be at the model's rate, " + std::to_string(rate) + " Hz; this one is " +
                             std::to_string(pcm.sample_rate()) + " Hz (resample the stream once, not chunk by chunk)");
    if (pcm.samples_size() > kMaxStreamChunkSeconds * rate)
      return InvalidArgument("a stream chunk holds at most " + std::to_string(static_cast<int>(kMaxStreamChunkSeconds)) +
                             " s of audio; this one " + std::to_string(pcm.samples_size() / rate) + " s");
    for (float v : pcm.samples())
      if (!std::isfinite(v)) return InvalidArgument("pcm samples contain NaN or infinity");
    return Status::Ok();
  }

  // Checks a stream chunk and resumes its session's stream (or starts one).
  Status OpenChunk(const proto::InferRequest& r, const std::shared_ptr<models::StreamingModel>& network,
                   proto::StreamState* state, std::unique_ptr<models::FrameStream>* stream) const {
    RETURN_IF_ERROR(CheckChunk(r));
    if (r.stream_state().empty()) {
      *stream = std::make_unique<models::FrameStream>(extractor_, network);
      return Status::Ok();
    }
    if (!state->ParseFromString(r.stream_state())) return Internal("the session's state does not parse");
    if (state->model_state_size() != network->state_size() || state->pending_size() >= extractor_.window_length())
      return FailedPrecondition("the session's state was made by another model (" +
                                std::to_string(state->model_state_size()) + " state values; " + info_.name() +
                                " version " + std::to_string(info_.version()) + " carries " +
                                std::to_string(network->state_size()) + "); start a new session");
    at::Tensor saved = torch::from_blob(state->mutable_model_state()->mutable_data(), {1, network->state_size()},
                                        torch::kFloat32).clone();
    *stream = std::make_unique<models::FrameStream>(
        extractor_, network, std::vector<float>(state->pending().begin(), state->pending().end()), saved,
        state->frames());
    return Status::Ok();
  }

  // Chunks of window streams (a clip task): each chunk's audio after the
  // session's last clip of samples (state.pending; zeros before the stream
  // began), a window of the clip's length ending at every multiple of the hop
  // the chunk reaches, scored in one batch for all sessions unless too quiet.
  std::vector<Status> WindowChunks(const std::vector<const proto::InferRequest*>& requests,
                                   const std::vector<proto::InferReply*>& replies,
                                   const tasks::Task::WindowStreaming& streaming) {
    const int rate = info_.sample_rate();
    const int64_t clip = std::max<int64_t>(1, std::llround(info_.clip_seconds() * rate));
    const int64_t hop = std::max<int64_t>(1, std::llround(streaming.hop_seconds * rate));
    std::vector<Status> status(requests.size());
    struct Session {
      size_t index;
      proto::StreamState state;
      std::vector<float> audio;  // the kept clip, then the chunk
      int64_t first_window = 0;
      std::vector<int64_t> rows;  // per window: its row in the batch, -1 when too quiet
    };
    std::vector<Session> sessions;
    std::vector<at::Tensor> inputs;
    try {
      for (size_t i = 0; i < requests.size(); ++i) {
        const proto::InferRequest& r = *requests[i];
        Session s{i, {}, {}, 0, {}};
        status[i] = CheckChunk(r);
        if (status[i].ok() && !r.stream_state().empty()) {
          if (!s.state.ParseFromString(r.stream_state())) status[i] = Internal("the session's state does not parse");
          else if (s.state.model_state_size() != 0 || s.state.pending_size() > clip || s.state.samples() < 0)
            status[i] = FailedPrecondition("the session's state was made by another model; " + info_.name() +
                                           " version " + std::to_string(info_.version()) +
                                           " keeps a window of " + std::to_string(clip) + " samples; start a new session");
        }
        if (!status[i].ok()) continue;
        s.audio.assign(s.state.pending().begin(), s.state.pending().end());
        const int64_t kept = static_cast<int64_t>(s.audio.size());
        s.audio.insert(s.audio.end(), r.pcm().samples().begin(), r.pcm().samples().end());
        const int64_t before = s.state.samples(), after = before + r.pcm().samples_size();
        s.first_window = before / hop + 1;
        for (int64_t w = s.first_window; w <= after / hop; ++w) {
          const int64_t end = w * hop - before + kept;  // in s.audio
          const int64_t from = std::max<int64_t>(0, end - clip);
          std::vector<float> window(static_cast<size_t>(clip), 0.0f);
          std::copy(s.audio.begin() + from, s.audio.begin() + end, window.end() - (end - from));
          if (tasks::LevelDb(window.data(), clip) < streaming.min_level_db) {
            s.rows.push_back(-1);
            continue;
          }
          Result<at::Tensor> features = extractor_.Compute(window);
          if (!features.ok()) {
            status[i] = features.status();
            break;
          }
          s.rows.push_back(static_cast<int64_t>(inputs.size()));
          inputs.push_back(std::move(*features));
        }
        if (!status[i].ok()) continue;
        s.state.set_samples(after);
        const int64_t keep = std::min<int64_t>(clip, static_cast<int64_t>(s.audio.size()));
        s.state.mutable_pending()->Assign(s.audio.end() - keep, s.audio.end());
        s.state.set_sample_rate(rate);
        sessions.push_back(std::move(s));
      }
      torch::NoGradGuard no_grad;
      at::Tensor logits;
      if (!inputs.empty()) {
        std::vector<at::Tensor> parts;
        for (size_t from = 0; from < inputs.size(); from += kMaxWindowBatch) {
          const size_t to = std::min(inputs.size(), from + kMaxWindowBatch);
          at::Tensor batch = torch::stack(std::vector<at::Tensor>(inputs.begin() + from, inputs.begin() + to));
          parts.push_back(Run(batch.to(device_, /*non_blocking=*/true)).to(torch::kCPU, torch::kFloat32));
        }
        logits = torch::cat(parts, 0).contiguous();
      }
      const int64_t classes = task_->num_outputs();
      for (Session& s : sessions) {
        at::Tensor rows = torch::full({static_cast<int64_t>(s.rows.size()), classes}, NAN, torch::kFloat32);
        for (size_t w = 0; w < s.rows.size(); ++w)
          if (s.rows[w] >= 0) rows[static_cast<int64_t>(w)].copy_(logits[s.rows[w]]);
        const proto::InferRequest& r = *requests[s.index];
        status[s.index] = task_->DecodeChunk(rows, s.first_window, r.sequence().end(), r, &s.state, replies[s.index]);
        if (status[s.index].ok()) replies[s.index]->set_stream_state(s.state.SerializeAsString());
      }
    } catch (const c10::Error& e) {
      for (const Session& s : sessions) status[s.index] = Internal("model " + info_.name() + ": " + e.what_without_backtrace());
    }
    return status;
  }

  audio::FeatureExtractor extractor_;
};

class ChorusModel : public ModelBase {
 public:
  ChorusModel(proto::ServedModelInfo info, audio::FeatureExtractor fx, std::unique_ptr<tasks::Task> task,
              models::ModelPtr model, c10::Device device)
      : ModelBase(std::move(info), std::move(fx), std::move(task), device), model_(std::move(model)) {
    model_->to(device);
    streaming_ = std::dynamic_pointer_cast<models::StreamingModel>(model_);
    info_.set_streams(info_.streams() || (streaming_ && task_->streams()));
  }

 private:
  std::shared_ptr<models::StreamingModel> StreamingNetwork() const override { return streaming_; }
  at::Tensor Run(const at::Tensor& batch) override {
    if (!streaming_ || batch.size(1) <= kChunkFrames) return model_->forward(batch);
    at::Tensor state = streaming_->InitialState(batch.size(0));
    std::vector<at::Tensor> parts;
    for (int64_t t = 0; t < batch.size(1); t += kChunkFrames)
      parts.push_back(streaming_->ForwardChunk(batch.narrow(1, t, std::min(kChunkFrames, batch.size(1) - t)), state));
    return torch::cat(parts, 1);
  }
  models::ModelPtr model_;
  std::shared_ptr<models::StreamingModel> streaming_;
};

class ScriptModel : public ModelBase {
 public:
  ScriptModel(proto::ServedModelInfo info, audio::FeatureExtractor fx, std::unique_ptr<tasks::Task> task,
              torch::jit::Module module, c10::Device device)
      : ModelBase(std::move(info), std::move(fx), std::move(task), device), module_(std::move(module)) {
    module_.to(device);
  }

 private:
  at::Tensor Run(const at::Tensor& batch) override { return module_.forward({batch}).toTensor(); }
  torch::jit::Module module_;
};

Result<std::unique_ptr<ServedModel>> LoadTorchScript(const std::string& dir, c10::Device device) {
  const std::string json_path = dir + "/model.json";
  ASSIGN_OR_RETURN(std::string text, ReadFile(json_path));
  proto::ServedModelInfo info;
  audio::FeatureOptions features;
  std::unique_ptr<tasks::Task> task;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    if (j.value("format", "") != "torchscript-1")
      return InvalidArgument(json_path + ": format must be torchscript-1 next to model.ts");
    info.set_name(j.at("name").get<std::string>());
    info.set_version(j.value("version", int64_t{1}));
    info.set_frames(j.at("frames").get<int64_t>());
    info.set_bins(j.at("bins").get<int64_t>());
    info.set_clip_seconds(j.value("clip_seconds", 1.0));
    ASSIGN_OR_RETURN(features, audio::FeatureOptionsFromJson(j.at("features")));
    auto made = tasks::Task::Create(j.value("task", "classify"), j.value("labels", std::vector<std::string>{}),
                                    j.value("task_options", nlohmann::json::object()));
    if (!made.ok()) return made.status().WithContext(json_path);
    task = std::move(*made);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(json_path + ": " + e.what());
  }
  info.set_sample_rate(features.sample_rate);
  info.set_format("torchscript");
  ASSIGN_OR_RETURN(audio::FeatureExtractor fx, audio::FeatureExtractor::Create(features));
  try {
    torch::jit::Module module = torch::jit::load(dir + "/model.ts", torch::kCPU);
    module.eval();
    return std::unique_ptr<ServedModel>(new ScriptModel(info, std::move(fx), std::move(task), std::move(module), device));
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
  auto task = tasks::Task::Create(m.task, m.labels, m.task_options);
  if (!task.ok()) return task.status().WithContext(dir + "/model.json");
  const tasks::OutputKind made = loaded.model->per_frame()             ? tasks::OutputKind::kPerFrame
                                 : loaded.model->embedding_dim() > 0 ? tasks::OutputKind::kEmbedding
                                                                     : tasks::OutputKind::kPerClip;
  if (made != (*task)->output_kind()) {
    return InvalidArgument(dir + "/model.json: model " + m.model.name + " gives " + tasks::OutputKindName(made) +
                           ", but its task " + m.task + " needs " + tasks::OutputKindName((*task)->output_kind()));
  }
  proto::ServedModelInfo info;
  info.set_name(m.name);
  info.set_version(m.version);
  info.set_frames(m.shape.frames);
  info.set_bins(m.shape.bins);
  info.set_sample_rate(m.features.sample_rate);
  info.set_clip_seconds(m.clip_seconds);
  info.set_format("chorus");
  ASSIGN_OR_RETURN(audio::FeatureExtractor fx, audio::FeatureExtractor::Create(m.features));
  try {
    return std::unique_ptr<ServedModel>(new ChorusModel(info, std::move(fx), std::move(*task), loaded.model, device));
  } catch (const c10::Error& e) {
    return Internal("moving model " + info.name() + " to " + device.str() + ": " + e.what_without_backtrace());
  }
}

}  // namespace chorus::serve
