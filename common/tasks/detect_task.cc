#include "common/tasks/detect_task.h"

#include <cmath>
#include <cstdio>
#include <sstream>

#include <torch/torch.h>

#include "common/tasks/outputs.h"
#include "common/tasks/vad_metrics.h"

namespace chorus::tasks {
namespace {

// Runs of 1 in a row of frame targets, as segments in seconds.
std::vector<Segment> TargetSegments(const float* t, int64_t n, double frame_seconds) {
  std::vector<Segment> out;
  int64_t i = 0;
  while (i < n) {
    if (t[i] < 0.5f) {
      ++i;
      continue;
    }
    int64_t j = i;
    while (j < n && t[j] >= 0.5f) ++j;
    out.emplace_back(i * frame_seconds, j * frame_seconds);
    i = j;
  }
  return out;
}

class DetectEvaluation : public Evaluation {
 public:
  explicit DetectEvaluation(VadOptions options) : options_(options) {}

  void Add(const at::Tensor& logits, const Targets& t) override {
    torch::NoGradGuard no_grad;
    const torch::Tensor bce = torch::binary_cross_entropy_with_logits(logits, t.frames, {}, {}, at::Reduction::None);
    loss_sum_ += (bce * t.mask).sum().item<double>();
    const torch::Tensor probs = torch::sigmoid(logits).to(torch::kCPU, torch::kFloat32).contiguous();
    const torch::Tensor targets = t.frames.to(torch::kCPU, torch::kFloat32).contiguous();
    const torch::Tensor lengths = t.mask.sum(1).to(torch::kCPU, torch::kInt64);
    const int64_t width = probs.size(1);
    for (int64_t b = 0; b < probs.size(0); ++b) {
      const int64_t n = lengths[b].item<int64_t>();
      const float* p = probs.data_ptr<float>() + b * width;
      const float* y = targets.data_ptr<float>() + b * width;
      metrics_.AddFrames(p, y, n);
      metrics_.AddSegments(TargetSegments(y, n, options_.frame_seconds),
                           SpeechSegments(std::vector<float>(p, p + n), options_));
      frames_ += static_cast<double>(n);
      recordings_ += 1;
    }
  }

  at::Tensor Counts() const override {
    std::vector<double> c = metrics_.Counts();
    c.insert(c.end(), {loss_sum_, frames_, recordings_});
    return torch::tensor(c, torch::kFloat64);
  }

  void SetCounts(const at::Tensor& summed) override {
    const torch::Tensor host = summed.to(torch::kCPU, torch::kFloat64).contiguous();
    const double* d = host.data_ptr<double>();
    const size_t n = static_cast<size_t>(host.numel());
    metrics_.SetCounts(std::vector<double>(d, d + n - 3));
    loss_sum_ = d[n - 3];
    frames_ = d[n - 2];
    recordings_ = d[n - 1];
  }

  TaskReport Report() const override {
    const VadMetrics::AtThreshold at = metrics_.At(options_.threshold);
    const VadMetrics::AtThreshold best = metrics_.BestF1();
    TaskReport r;
    r.task = "detect";
    r.score_name = "roc_auc";
    r.score = metrics_.RocAuc();
    r.loss = frames_ > 0 ? loss_sum_ / frames_ : 0;
    r.count = static_cast<int64_t>(recordings_);
    r.details = {{"roc_auc", r.score},
                 {"threshold", at.threshold},
                 {"f1", at.f1},
                 {"precision", at.precision},
                 {"recall", at.recall},
                 {"miss_rate", at.miss_rate},
                 {"false_alarm_rate", at.false_alarm_rate},
                 {"frame_accuracy", at.accuracy},
                 {"best_f1", best.f1},
                 {"best_f1_threshold", best.threshold},
                 {"onset_error_s", metrics_.mean_onset_error_s()},
                 {"offset_error_s", metrics_.mean_offset_error_s()},
                 {"segments_matched", metrics_.matched_fraction()},
                 {"reference_segments", metrics_.reference_segments()},
                 {"detected_segments", metrics_.hypothesis_segments()},
                 {"frames", metrics_.frames()},
                 {"speech_frames", metrics_.speech_frames()},
                 {"recordings", r.count},
                 {"loss", r.loss}};
    if (Result<RocCurve> roc = RocFromGroups(metrics_.FrameScoreGroups()); roc.ok()) {
      const EqualErrorRate eer = ComputeEer(*roc);
      r.details["eer"] = eer.eer;
      r.details["eer_threshold"] = eer.threshold;
      r.curves.push_back({"speech frames", std::move(*roc)});
    }
    std::ostringstream table;
    char line[256];
    std::snprintf(line, sizeof line, "  frames %lld (%.1f%% speech) in %lld recordings\n",
                  static_cast<long long>(metrics_.frames()),
                  100.0 * metrics_.speech_frames() / std::max<int64_t>(1, metrics_.frames()), static_cast<long long>(r.count));
    table << line;
    std::snprintf(line, sizeof line, "  ROC-AUC %.4f | at threshold %.3f: F1 %.4f  precision %.4f  recall %.4f\n", r.score,
                  at.threshold, at.f1, at.precision, at.recall);
    table << line;
    std::snprintf(line, sizeof line, "  miss rate %.4f  false-alarm rate %.4f | best F1 %.4f at threshold %.3f\n",
                  at.miss_rate, at.false_alarm_rate, best.f1, best.threshold);
    table << line;
    std::snprintf(line, sizeof line,
                  "  segments: %lld reference, %lld detected, %.1f%% matched; onset error %.3f s, offset error %.3f s\n",
                  static_cast<long long>(metrics_.reference_segments()),
                  static_cast<long long>(metrics_.hypothesis_segments()), 100 * metrics_.matched_fraction(),
                  metrics_.mean_onset_error_s(), metrics_.mean_offset_error_s());
    table << line;
    r.table = table.str();
    return r;
  }

 private:
  VadOptions options_;
  VadMetrics metrics_;
  double loss_sum_ = 0, frames_ = 0, recordings_ = 0;
};

}  // namespace

Result<std::unique_ptr<Task>> DetectTask::Create(const nlohmann::json& options) {
  Result<VadOptions> o = VadOptions::FromJson(options.is_null() ? nlohmann::json::object() : options);
  if (!o.ok()) return o.status().WithContext("task detect");
  return std::unique_ptr<Task>(new DetectTask(*o));
}

const std::string& DetectTask::name() const {
  static const std::string kName = "detect";
  return kName;
}

at::Tensor DetectTask::ExampleTargets(const data::Example& example, double offset, int64_t frames, double hop,
                                      double window) const {
  torch::Tensor t = torch::zeros({frames}, torch::kFloat32);
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < frames; ++i) {
    const double centre = offset + i * hop + window / 2;
    for (const auto& [start, end] : example.speech)
      if (centre >= start && centre < end) p[i] = 1.0f;
  }
  return t;
}

Targets DetectTask::Collate(const std::vector<at::Tensor>& per_example, int64_t frames, bool pin_memory) const {
  const int64_t b = static_cast<int64_t>(per_example.size());
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(pin_memory);
  Targets t;
  t.frames = torch::zeros({b, frames}, options);
  t.mask = torch::zeros({b, frames}, options);
  for (int64_t i = 0; i < b; ++i) {
    const int64_t n = std::min<int64_t>(frames, per_example[i].size(0));
    t.frames[i].narrow(0, 0, n).copy_(per_example[i].narrow(0, 0, n));
    t.mask[i].narrow(0, 0, n).fill_(1.0f);
  }
  return t;
}

at::Tensor DetectTask::Loss(const at::Tensor& logits, const Targets& t, double) const {
  const torch::Tensor bce =
      torch::binary_cross_entropy_with_logits(logits.to(torch::kFloat32), t.frames, {}, {}, at::Reduction::None);
  return (bce * t.mask).sum() / t.mask.sum().clamp_min(1.0);
}

at::Tensor DetectTask::Decisions(const at::Tensor& logits, const Targets& t) const {
  torch::NoGradGuard no_grad;
  const torch::Tensor right = ((logits > 0).to(torch::kFloat32).eq(t.frames).to(torch::kFloat32) * t.mask).sum();
  return torch::stack({right, t.mask.sum()}).to(torch::kFloat64);
}

std::unique_ptr<Evaluation> DetectTask::NewEvaluation(const std::vector<data::Example>&,
                                                       const std::vector<data::Trial>&) const {
  return std::make_unique<DetectEvaluation>(options_);
}

void DetectTask::Tune(const TaskReport& validation) {
  if (!validation.details.contains("best_f1_threshold")) return;
  const double t = validation.details["best_f1_threshold"].get<double>();
  if (t > 0 && t < 1) options_.threshold = t;
}

std::vector<TensorSpec> DetectTask::Outputs() const {
  return {{"speech_probability", "FP32", {-1}}, {"segments", "FP32", {-1, 2}}};
}

Result<VadOptions> DetectTask::RequestOptions(const proto::InferRequest& request) const {
  if (request.parameters().empty()) return options_;
  nlohmann::json overrides = options_.ToJson();
  for (const auto& [key, value] : request.parameters()) {
    if (key == "frame_seconds") return InvalidArgument("parameter frame_seconds is the model's, not a request's");
    overrides[key] = value;
  }
  Result<VadOptions> parsed = VadOptions::FromJson(overrides);
  if (!parsed.ok()) return InvalidArgument("parameters: " + parsed.status().message());
  return *parsed;
}

namespace {

std::vector<float> Probabilities(const at::Tensor& row) {
  const torch::Tensor probs = torch::sigmoid(row.to(torch::kCPU, torch::kFloat32)).contiguous();
  const float* p = probs.data_ptr<float>();
  return std::vector<float>(p, p + probs.numel());
}

}  // namespace

Status DetectTask::Decode(const at::Tensor& row, const proto::InferRequest& request, proto::InferReply* reply) const {
  ASSIGN_OR_RETURN(const VadOptions o, RequestOptions(request));
  const std::vector<float> values = Probabilities(row);
  AddFloats(reply, "speech_probability", values, {static_cast<int64_t>(values.size())});
  std::vector<float> flat;
  const std::vector<Segment> segments = SpeechSegments(values, o);
  for (const auto& [start, end] : segments) flat.insert(flat.end(), {static_cast<float>(start), static_cast<float>(end)});
  AddFloats(reply, "segments", flat, {static_cast<int64_t>(segments.size()), 2});
  return Status::Ok();
}

Status DetectTask::DecodeChunk(const at::Tensor& row, int64_t first_frame, bool end, const proto::InferRequest& request,
                               proto::StreamState* state, proto::InferReply* reply) const {
  ASSIGN_OR_RETURN(const VadOptions o, RequestOptions(request));
  VadEventDetector detector(o, {first_frame, state->in_speech(), state->release_start() - 1});
  const std::vector<float> values = Probabilities(row);
  std::vector<float> events;
  auto add = [&](const std::optional<VadEvent>& e) {
    if (e) events.insert(events.end(), {static_cast<float>(e->seconds), e->start ? 1.0f : 0.0f});
  };
  for (float p : values) add(detector.Push(p));
  if (end) add(detector.Finish());
  AddFloats(reply, "speech_probability", values, {static_cast<int64_t>(values.size())});
  AddFloats(reply, "events", events, {static_cast<int64_t>(events.size() / 2), 2});
  state->set_in_speech(detector.state().triggered);
  state->set_release_start(detector.state().quiet_since + 1);
  return Status::Ok();
}

}  // namespace chorus::tasks
