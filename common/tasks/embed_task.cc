#include "common/tasks/embed_task.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "common/tasks/clip_labels.h"

#include "common/tasks/outputs.h"
#include "common/tasks/speaker_metrics.h"

namespace chorus::tasks {
namespace {

// Every example's embedding in its row of [examples, dim] (float64, zeros
// elsewhere): the rows of all ranks add up to the whole table.
class EmbedEvaluation : public Evaluation {
 public:
  EmbedEvaluation(const std::vector<data::Example>& examples, std::vector<data::Trial> trials, EmbedOptions options)
      : trials_(std::move(trials)), options_(options) {
    for (const auto& e : examples) speakers_.push_back(e.speaker);
    table_ = torch::zeros({static_cast<int64_t>(examples.size()), options_.embedding_dim}, torch::kFloat64);
  }

  void Add(const at::Tensor& output, const Targets& t) override {
    if (table_.device() != output.device()) table_ = table_.to(output.device());
    table_.index_copy_(0, t.index, output.detach().to(torch::kFloat64));
  }
  at::Tensor Counts() const override { return table_.flatten().cpu(); }
  void SetCounts(const at::Tensor& summed) override {
    table_ = summed.cpu().to(torch::kFloat64).reshape(table_.sizes()).clone();
  }

  TaskReport Report() const override {
    TaskReport out;
    out.task = "embed";
    out.score_name = "1-EER";
    const torch::Tensor host = table_.cpu().to(torch::kFloat32).contiguous();
    const int64_t n = host.size(0), dim = host.size(1);
    out.count = n;
    std::vector<Embedding> embeddings(static_cast<size_t>(n));
    const float* p = host.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) embeddings[i].assign(p + i * dim, p + (i + 1) * dim);
    SpeakerEvalOptions so;
    so.enrol = options_.enrol_utterances;
    so.threshold = options_.threshold;
    Result<SpeakerEvalReport> r = EvaluateSpeakers(embeddings, speakers_, trials_, so);
    if (!r.ok()) {
      out.details = {{"error", r.status().message()}};
      out.table = "  no speaker figures: " + r.status().message() + "\n";
      return out;
    }
    out.score = 1.0 - r->rates.eer;
    out.details = r->ToJson();
    out.table = r->ToTable();
    std::vector<double> scores;
    std::vector<uint8_t> same;
    for (const ScoredTrial& t : r->scored) scores.push_back(t.score), same.push_back(t.target);
    if (Result<RocCurve> roc = RocFromScores(scores, same); roc.ok()) {
      out.details["roc_auc"] = Auc(*roc);
      out.curves.push_back({"trials", std::move(*roc)});
    }
    return out;
  }

 private:
  std::vector<std::string> speakers_;
  std::vector<data::Trial> trials_;
  EmbedOptions options_;
  torch::Tensor table_;
};

}  // namespace

Result<EmbedOptions> EmbedOptions::FromJson(const nlohmann::json& j) {
  EmbedOptions o;
  if (!j.is_object()) return InvalidArgument("embed options must be an object");
  try {
    for (const auto& [key, value] : j.items()) {
      if (key == "margin") o.margin = value.get<double>();
      else if (key == "scale") o.scale = value.get<double>();
      else if (key == "enrol_utterances") o.enrol_utterances = value.get<int>();
      else if (key == "min_seconds") o.min_seconds = value.get<double>();
      else if (key == "embedding_dim") o.embedding_dim = value.get<int64_t>();
      else if (key == "threshold") o.threshold = value.get<double>();
      else return InvalidArgument("unknown embed option '" + key + "'");
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("embed options: ") + e.what());
  }
  if (!(o.margin >= 0 && o.margin < 1)) return InvalidArgument("embed margin must be in [0, 1) radians");
  if (!(o.scale > 0 && o.scale <= 128)) return InvalidArgument("embed scale must be in (0, 128]");
  if (o.enrol_utterances < 1 || o.enrol_utterances > 100) return InvalidArgument("enrol_utterances must be in [1, 100]");
  if (!(o.min_seconds > 0 && o.min_seconds <= 30)) return InvalidArgument("embed min_seconds must be in (0, 30]");
  if (o.embedding_dim < 2 || o.embedding_dim > 4096) return InvalidArgument("embedding_dim must be in [2, 4096]");
  if (!(o.threshold >= -1 && o.threshold <= 1)) return InvalidArgument("embed threshold must be a cosine in [-1, 1]");
  return o;
}

nlohmann::json EmbedOptions::ToJson() const {
  return {{"margin", margin},           {"scale", scale},           {"enrol_utterances", enrol_utterances},
          {"min_seconds", min_seconds}, {"embedding_dim", embedding_dim}, {"threshold", threshold}};
}

Result<std::unique_ptr<Task>> EmbedTask::Create(std::vector<std::string> labels, const nlohmann::json& options) {
  if (labels.size() < 2) return InvalidArgument("task embed needs at least 2 training speakers");
  ASSIGN_OR_RETURN(EmbedOptions o, EmbedOptions::FromJson(options));
  return std::unique_ptr<Task>(new EmbedTask(std::move(labels), o));
}

const std::string& EmbedTask::name() const {
  static const std::string kName = "embed";
  return kName;
}

at::Tensor EmbedTask::ExampleTargets(const data::Example& example, double, int64_t, double, double) const {
  return ClipLabel(example);
}

Targets EmbedTask::Collate(const std::vector<at::Tensor>& per_example, int64_t, bool pin_memory) const {
  return CollateClipLabels(per_example, pin_memory);
}

at::Tensor EmbedTask::Loss(const at::Tensor& output, const Targets& t, double label_smoothing) const {
  // cos(theta + m) = cos cos m - sin sin m for the spoken speaker; past
  // theta = pi - m (where cos(theta + m) would rise again) the usual
  // continuation cos - m sin(m) keeps the target logit decreasing in theta.
  const torch::Tensor cosine = output.to(torch::kFloat32).clamp(-1 + 1e-7, 1 - 1e-7);
  const torch::Tensor target = cosine.gather(1, t.labels.unsqueeze(1));
  const torch::Tensor sine = torch::sqrt((1.0 - target * target).clamp_min(0));
  const double m = options_.margin;
  torch::Tensor phi = target * std::cos(m) - sine * std::sin(m);
  phi = torch::where(target > std::cos(M_PI - m), phi, target - std::sin(M_PI - m) * m);
  const torch::Tensor logits = cosine.scatter(1, t.labels.unsqueeze(1), phi) * options_.scale;
  return torch::nn::functional::cross_entropy(
      logits, t.labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
}

at::Tensor EmbedTask::Decisions(const at::Tensor& output, const Targets& t) const {
  return ArgmaxDecisions(output, t);
}

std::unique_ptr<Evaluation> EmbedTask::NewEvaluation(const std::vector<data::Example>& examples,
                                                     const std::vector<data::Trial>& trials) const {
  return std::make_unique<EmbedEvaluation>(examples, trials, options_);
}

void EmbedTask::Tune(const TaskReport& validation) {
  if (validation.details.contains("eer_threshold")) options_.threshold = validation.details["eer_threshold"].get<double>();
}

Status EmbedTask::CheckAudio(const std::vector<float>& samples, int sample_rate) const {
  const double seconds = static_cast<double>(samples.size()) / sample_rate;
  if (seconds < options_.min_seconds) {
    return InvalidArgument("the utterance is " + std::to_string(static_cast<int>(std::lround(seconds * 1000))) +
                           " ms long; a speaker embedding needs at least " +
                           std::to_string(static_cast<int>(std::lround(options_.min_seconds * 1000))) + " ms of audio");
  }
  const size_t frame = static_cast<size_t>(std::max(1, sample_rate / 50));  // 20 ms
  double loudest = 0;
  for (size_t start = 0; start + frame <= samples.size(); start += frame) {
    double energy = 0;
    for (size_t i = start; i < start + frame; ++i) energy += static_cast<double>(samples[i]) * samples[i];
    loudest = std::max(loudest, energy / static_cast<double>(frame));
  }
  if (loudest < 1e-6)  // -60 dBFS RMS
    return InvalidArgument("the utterance is silent (no 20 ms frame above -60 dBFS): nothing to recognise a speaker by");
  return Status::Ok();
}

std::vector<TensorSpec> EmbedTask::Outputs() const { return {{"embedding", "FP32", {options_.embedding_dim}}}; }

nlohmann::json EmbedTask::ServedParameters() const {
  return {{"embedding_dim", options_.embedding_dim},
          {"threshold", options_.threshold},
          {"min_seconds", options_.min_seconds},
          {"enrol_utterances", options_.enrol_utterances},
          {"score", "cosine"}};
}

Status EmbedTask::Decode(const at::Tensor& row, const proto::InferRequest& request, proto::InferReply* reply) const {
  if (!request.parameters().empty()) {
    return InvalidArgument("parameter '" + request.parameters().begin()->first +
                           "' is not one of an embedding model's (it takes none)");
  }
  const torch::Tensor e = row.to(torch::kCPU, torch::kFloat32).contiguous();
  const float* p = e.data_ptr<float>();
  const Embedding normalized = Normalized(Embedding(p, p + e.numel()));
  AddFloats(reply, "embedding", normalized, {static_cast<int64_t>(normalized.size())});
  return Status::Ok();
}

}  // namespace chorus::tasks
