// classify: a fixed-length clip to one of the dataset's classes (keyword
// spotting). Targets are class ids; the loss is cross-entropy (with label
// smoothing); evaluation is the confusion matrix with accuracy and
// per-class precision / recall / F1 (common/models/metrics.h), accuracy
// picking the best model, plus each example's class probabilities (gathered
// across ranks) and from them one-vs-rest ROC curves, AUC and EER per class
// and the macro AUC (roc.h; details "one_vs_rest", "macro_roc_auc"); a reply carries the top-k labels with their
// softmax scores ("labels", "scores") and, when asked, the logits.
// A stream is scored on a sliding window of the clip's length (every hop_ms)
// and its keywords spotted with smoothing and a refractory period
// (keyword_spotter.h; the options are the task's, in model.json's
// task_options; a chunk's parameters may override threshold, smooth,
// refractory_ms and peak_ms): a chunk's reply carries "keywords" [n] (labels),
// "keyword_times" [n] (seconds into the stream) and "keyword_scores" [n].
// See task.h.
#pragma once

#include "common/tasks/keyword_spotter.h"
#include "common/tasks/task.h"

namespace chorus::tasks {

class ClassifyTask : public Task {
 public:
  static Result<std::unique_ptr<Task>> Create(std::vector<std::string> labels,
                                              const nlohmann::json& options = nlohmann::json::object());

  const std::string& name() const override;
  OutputKind output_kind() const override { return OutputKind::kPerClip; }
  int64_t num_outputs() const override { return static_cast<int64_t>(labels_.size()); }
  bool whole_recordings() const override { return false; }
  at::Tensor ExampleTargets(const data::Example& example, double offset_seconds, int64_t frames, double hop_seconds,
                            double window_seconds) const override;
  Targets Collate(const std::vector<at::Tensor>& per_example, int64_t frames, bool pin_memory) const override;
  at::Tensor Loss(const at::Tensor& output, const Targets& targets, double label_smoothing) const override;
  at::Tensor Decisions(const at::Tensor& output, const Targets& targets) const override;
  std::unique_ptr<Evaluation> NewEvaluation(const std::vector<data::Example>& examples,
                                            const std::vector<data::Trial>& trials) const override;
  std::vector<TensorSpec> Outputs() const override;
  nlohmann::json ServedParameters() const override;
  Status Decode(const at::Tensor& row, const proto::InferRequest& request, proto::InferReply* reply) const override;
  nlohmann::json Options() const override { return options_.ToJson(); }
  bool streams() const override { return true; }
  std::optional<WindowStreaming> window_streaming() const override {
    return WindowStreaming{options_.hop_ms / 1000.0, options_.min_level_db};
  }
  Status DecodeChunk(const at::Tensor& rows, int64_t first_window, bool end, const proto::InferRequest& request,
                     proto::StreamState* state, proto::InferReply* reply) const override;

  const KeywordOptions& options() const { return options_; }

 private:
  ClassifyTask(std::vector<std::string> labels, KeywordOptions options) : options_(options) {
    labels_ = std::move(labels);
  }
  // The model's settings with a chunk's parameters over them.
  Result<KeywordOptions> RequestOptions(const proto::InferRequest& request) const;
  KeywordOptions options_;
};

}  // namespace chorus::tasks
