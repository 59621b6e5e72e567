#include "common/tasks/classify_task.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include <torch/torch.h>

#include "common/tasks/clip_labels.h"

#include "common/models/metrics.h"
#include "common/tasks/outputs.h"

namespace chorus::tasks {
namespace {

// The confusion matrix (actual x predicted, row-major), the loss sum and
// every example's class probabilities in its row of an [examples x classes]
// table (Targets::index; zeros elsewhere), so the sum across ranks holds
// them all: the one-vs-rest ROC curves need per-example scores.
class ClassifyEvaluation : public Evaluation {
 public:
  ClassifyEvaluation(std::vector<std::string> labels, const std::vector<data::Example>& examples)
      : labels_(std::move(labels)) {
    const int64_t n = static_cast<int64_t>(labels_.size());
    for (const auto& e : examples) example_labels_.push_back(e.label);
    counts_ = torch::zeros({n * n + 1 + static_cast<int64_t>(examples.size()) * n}, torch::kFloat64);
  }

  void Add(const at::Tensor& logits, const Targets& t) override {
    const int64_t n = static_cast<int64_t>(labels_.size());
    if (counts_.device() != logits.device()) counts_ = counts_.to(logits.device());
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits, t.labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    const torch::Tensor cells = t.labels * n + logits.argmax(1);
    counts_.narrow(0, 0, n * n).add_(torch::bincount(cells, {}, n * n).to(torch::kFloat64));
    counts_.narrow(0, n * n, 1).add_(loss.to(torch::kFloat64));
    const int64_t examples = static_cast<int64_t>(example_labels_.size());
    if (t.index.defined() && examples > 0) {
      torch::Tensor table = counts_.narrow(0, n * n + 1, examples * n).view({examples, n});
      table.index_copy_(0, t.index, torch::softmax(logits.detach().to(torch::kFloat32), 1).to(torch::kFloat64));
    }
  }
  at::Tensor Counts() const override { return counts_.cpu(); }
  void SetCounts(const at::Tensor& summed) override { counts_ = summed.cpu().to(torch::kFloat64).clone(); }

  TaskReport Report() const override {
    const int64_t n = static_cast<int64_t>(labels_.size());
    const torch::Tensor host = counts_.cpu().contiguous();
    const double* c = host.data_ptr<double>();
    models::ConfusionMatrix matrix(labels_);
    for (int64_t i = 0; i < n * n; ++i) matrix.raw()[i] = static_cast<int64_t>(c[i]);
    const int64_t count = matrix.Total();
    const models::EvalReport r = models::MakeReport(matrix, count ? c[n * n] / count : 0.0);
    TaskReport out;
    out.task = "classify";
    out.score_name = "accuracy";
    out.score = r.accuracy;
    out.loss = r.loss;
    out.count = r.count;
    out.details = r.ToJson();
    out.table = r.ToTable();
    // Per-example scores exist only when every example was added (count == examples).
    if (!example_labels_.empty() && count == static_cast<int64_t>(example_labels_.size())) {
      const double* p = c + n * n + 1;
      for (size_t i = 0; i < example_labels_.size(); ++i) out.example_scores.emplace_back(p + i * n, p + (i + 1) * n);
      out.curves = OneVsRestCurves(out.example_scores, example_labels_, labels_);
      AddRocFigures(&out);
    }
    return out;
  }

 private:
  // details "macro_roc_auc" and "one_vs_rest" (per class: roc_auc, eer), and their table.
  static void AddRocFigures(TaskReport* out) {
    nlohmann::json per_class = nlohmann::json::array();
    double sum = 0;
    std::ostringstream table;
    char line[256];
    for (const NamedRoc& r : out->curves) {
      const double auc = Auc(r.curve);
      const EqualErrorRate eer = ComputeEer(r.curve);
      sum += auc;
      per_class.push_back({{"label", r.name}, {"roc_auc", auc}, {"eer", eer.eer}, {"eer_threshold", eer.threshold},
                           {"positives", r.curve.positives}, {"negatives", r.curve.negatives}});
      std::snprintf(line, sizeof line, "%-12s %9.6f %9.4f\n", r.name.c_str(), auc, eer.eer);
      table << line;
    }
    if (out->curves.empty()) return;
    const double macro = sum / static_cast<double>(out->curves.size());
    out->details["macro_roc_auc"] = macro;
    out->details["one_vs_rest"] = per_class;
    std::snprintf(line, sizeof line, "\none-vs-rest ROC of the class probabilities: macro AUC %.6f\n%-12s %9s %9s\n",
                  macro, "class", "auc", "eer");
    out->table += line + table.str();
  }

  std::vector<std::string> labels_;
  std::vector<int64_t> example_labels_;
  torch::Tensor counts_;
};

}  // namespace

Result<std::unique_ptr<Task>> ClassifyTask::Create(std::vector<std::string> labels, const nlohmann::json& options) {
  if (labels.size() < 2) return InvalidArgument("task classify needs at least 2 classes");
  Result<KeywordOptions> o = KeywordOptions::FromJson(options.is_null() ? nlohmann::json::object() : options);
  if (!o.ok()) return o.status().WithContext("task classify");
  return std::unique_ptr<Task>(new ClassifyTask(std::move(labels), *o));
}

const std::string& ClassifyTask::name() const {
  static const std::string kName = "classify";
  return kName;
}

at::Tensor ClassifyTask::ExampleTargets(const data::Example& example, double, int64_t, double, double) const {
  return ClipLabel(example);
}

Targets ClassifyTask::Collate(const std::vector<at::Tensor>& per_example, int64_t, bool pin_memory) const {
  return CollateClipLabels(per_example, pin_memory);
}

at::Tensor ClassifyTask::Loss(const at::Tensor& logits, const Targets& t, double label_smoothing) const {
  return torch::nn::functional::cross_entropy(
      logits, t.labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
}

at::Tensor ClassifyTask::Decisions(const at::Tensor& logits, const Targets& t) const {
  return ArgmaxDecisions(logits, t);
}

std::unique_ptr<Evaluation> ClassifyTask::NewEvaluation(const std::vector<data::Example>& examples,
                                                         const std::vector<data::Trial>&) const {
  return std::make_unique<ClassifyEvaluation>(labels_, examples);
}

std::vector<TensorSpec> ClassifyTask::Outputs() const {
  return {{"labels", "BYTES", {-1}}, {"scores", "FP32", {-1}}, {"logits", "FP32", {num_outputs()}}};
}

nlohmann::json ClassifyTask::ServedParameters() const {
  nlohmann::json j = options_.ToJson();
  j["labels"] = labels_;
  return j;
}

Status ClassifyTask::Decode(const at::Tensor& row, const proto::InferRequest& request, proto::InferReply* reply) const {
  if (!request.parameters().empty()) {
    return InvalidArgument("parameter '" + request.parameters().begin()->first +
                           "' is not one of a classify model's (a clip takes top_k and logits; a stream's chunk "
                           "threshold, smooth, refractory_ms and peak_ms)");
  }
  const torch::Tensor logits = row.to(torch::kCPU, torch::kFloat32).contiguous();
  const torch::Tensor probs = torch::softmax(logits, 0).contiguous();
  const int64_t classes = logits.size(0);
  const int k = std::clamp<int>(request.top_k() > 0 ? request.top_k() : 1, 1, static_cast<int>(classes));
  const float* p = probs.data_ptr<float>();
  std::vector<int64_t> order(classes);
  for (int64_t c = 0; c < classes; ++c) order[c] = c;
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [p](int64_t a, int64_t b) { return p[a] > p[b]; });
  std::vector<std::string> names;
  std::vector<float> scores;
  for (int j = 0; j < k; ++j) {
    const int64_t c = order[j];
    names.push_back(c < static_cast<int64_t>(labels_.size()) ? labels_[c] : std::to_string(c));
    scores.push_back(p[c]);
  }
  AddBytes(reply, "labels", names);
  AddFloats(reply, "scores", scores, {k});
  if (request.want_logits()) {
    const float* l = logits.data_ptr<float>();
    AddFloats(reply, "logits", std::vector<float>(l, l + classes), {classes});
  }
  return Status::Ok();
}

Result<KeywordOptions> ClassifyTask::RequestOptions(const proto::InferRequest& request) const {
  if (request.parameters().empty()) return options_;
  nlohmann::json overrides = options_.ToJson();
  for (const auto& [key, value] : request.parameters()) {
    if (key != "threshold" && key != "smooth" && key != "refractory_ms" && key != "peak_ms")
      return InvalidArgument("parameter '" + key + "' is not one a stream's chunk takes (threshold, smooth, " +
                             "refractory_ms, peak_ms; hop_ms and min_level_db are the model's)");
    overrides[key] = value;
  }
  Result<KeywordOptions> parsed = KeywordOptions::FromJson(overrides);
  if (!parsed.ok()) return InvalidArgument("parameters: " + parsed.status().message());
  return *parsed;
}

Status ClassifyTask::DecodeChunk(const at::Tensor& rows, int64_t first_window, bool end, const proto::InferRequest& request,
                                 proto::StreamState* state, proto::InferReply* reply) const {
  ASSIGN_OR_RETURN(const KeywordOptions o, RequestOptions(request));
  const int64_t classes = num_outputs();
  if (rows.numel() > 0 && (rows.dim() != 2 || rows.size(1) != classes))
    return Internal("a window stream's rows must be [windows, " + std::to_string(classes) + "]");
  KeywordSpotter::State carried;
  const auto& recent = state->recent();
  if (recent.size() % classes != 0)
    return FailedPrecondition("the session's state was made by another model; start a new session");
  for (int64_t i = 0; i + classes <= recent.size(); i += classes)
    carried.recent.emplace_back(recent.begin() + i, recent.begin() + i + classes);
  carried.last_keyword_window = state->last_keyword() - 1;
  if (state->candidate() < 0 || state->candidate() > classes)
    return FailedPrecondition("the session's state was made by another model; start a new session");
  carried.candidate = state->candidate() - 1;
  carried.candidate_score = state->candidate_score();
  carried.candidate_window = state->candidate_window();
  carried.candidate_start = state->candidate_start();
  KeywordSpotter spotter(o, labels_, std::move(carried));
  std::vector<std::string> words;
  std::vector<float> times, scores;
  auto add = [&](const std::optional<KeywordEvent>& e) {
    if (!e) return;
    words.push_back(labels_[static_cast<size_t>(e->label)]);
    times.push_back(static_cast<float>(e->seconds));
    scores.push_back(e->score);
  };
  const int64_t windows = rows.numel() > 0 ? rows.size(0) : 0;
  if (windows > 0) {
    const torch::Tensor logits = rows.to(torch::kCPU, torch::kFloat32).contiguous();
    const torch::Tensor probs = torch::softmax(logits, 1).contiguous();
    for (int64_t w = 0; w < windows; ++w) {
      const bool quiet = std::isnan(logits[w][0].item<float>());
      add(spotter.Push(first_window + w, quiet ? nullptr : probs.data_ptr<float>() + w * classes));
    }
  }
  if (end) add(spotter.Finish());
  const int64_t n = static_cast<int64_t>(words.size());
  AddBytes(reply, "keywords", words);
  AddFloats(reply, "keyword_times", times, {n});
  AddFloats(reply, "keyword_scores", scores, {n});
  state->clear_recent();
  for (const auto& r : spotter.state().recent) state->mutable_recent()->Add(r.begin(), r.end());
  const KeywordSpotter::State& after = spotter.state();
  state->set_last_keyword(after.last_keyword_window + 1);
  state->set_candidate(after.candidate + 1);
  state->set_candidate_score(after.candidate_score);
  state->set_candidate_window(after.candidate_window);
  state->set_candidate_start(after.candidate_start);
  return Status::Ok();
}

}  // namespace chorus::tasks
