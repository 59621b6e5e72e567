// embed: a clip to a speaker embedding (speaker recognition). The model
// returns, in training mode, the cosine of each example's embedding with
// every training speaker's centre (the AAM head, part of the model), and in
// eval mode the embedding itself (tasks::OutputKind::kEmbedding).
//
//   training    additive angular margin softmax (ArcFace / AAM-softmax):
//               cross-entropy over scale * cos(theta + margin) for the
//               speaker spoken, scale * cos(theta) for the others; the
//               progress line counts the nearest centre being the speaker.
//   evaluation  the split's embeddings, each written into its row of one
//               [examples x dim] float64 table (Targets::index), so the sum
//               across ranks gathers them; then speaker_metrics.h: EER,
//               minDCF(0.01), identification top-1 with `enrol_utterances`
//               enrolment utterances per speaker, or the split's trial list.
//               The best model has the highest 1 - EER.
//   Tune        the served decision threshold: the validation EER point.
//   serving     "embedding" FP32 [dim], L2-normalised; audio shorter than
//               min_seconds, or silent (no 20 ms frame above -60 dBFS), is
//               refused with the reason.
// Options (job `embed:` section and model.json task_options): margin (0.2),
// scale (30), enrol_utterances (5), min_seconds (0.1), embedding_dim,
// threshold. See task.h.
#pragma once

#include "common/tasks/task.h"

namespace chorus::tasks {

struct EmbedOptions {
  double margin = 0.2;
  double scale = 30.0;
  int enrol_utterances = 5;
  double min_seconds = 0.1;
  int64_t embedding_dim = 0;  // must be set (> 0)
  double threshold = 0.5;     // cosine; accept a trial at or above it

  static Result<EmbedOptions> FromJson(const nlohmann::json& j);
  nlohmann::json ToJson() const;
};

class EmbedTask : public Task {
 public:
  // labels: the training speakers (the AAM head's classes).
  static Result<std::unique_ptr<Task>> Create(std::vector<std::string> labels, const nlohmann::json& options);

  const std::string& name() const override;
  OutputKind output_kind() const override { return OutputKind::kEmbedding; }
  int64_t num_outputs() const override { return static_cast<int64_t>(labels_.size()); }
  bool whole_recordings() const override { return false; }
  at::Tensor ExampleTargets(const data::Example& example, double offset_seconds, int64_t frames, double hop_seconds,
                            double window_seconds) const override;
  Targets Collate(const std::vector<at::Tensor>& per_example, int64_t frames, bool pin_memory) const override;
  at::Tensor Loss(const at::Tensor& output, const Targets& targets, double label_smoothing) const override;
  at::Tensor Decisions(const at::Tensor& output, const Targets& targets) const override;
  std::unique_ptr<Evaluation> NewEvaluation(const std::vector<data::Example>& examples,
                                            const std::vector<data::Trial>& trials) const override;
  void Tune(const TaskReport& validation) override;
  nlohmann::json Options() const override { return options_.ToJson(); }
  Status CheckAudio(const std::vector<float>& samples, int sample_rate) const override;
  std::vector<TensorSpec> Outputs() const override;
  nlohmann::json ServedParameters() const override;
  Status Decode(const at::Tensor& row, const proto::InferRequest& request, proto::InferReply* reply) const override;

  const EmbedOptions& options() const { return options_; }

 private:
  EmbedTask(std::vector<std::string> labels, EmbedOptions options) : options_(options) { labels_ = std::move(labels); }
  EmbedOptions options_;
};

}  // namespace chorus::tasks
