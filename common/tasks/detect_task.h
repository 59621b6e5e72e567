// detect: a recording of any length to a speech probability per 10 ms frame
// (voice activity). Targets are per-frame speech flags from the example's
// speech segments (a frame is speech when its centre lies in a segment),
// padded with a mask; the loss is binary cross-entropy over the real frames;
// evaluation is frame ROC-AUC (picking the best model), F1, miss and false-
// alarm rates at the threshold, and segment onset/offset errors after
// post-processing (vad_metrics.h, vad_postprocess.h). Tune() sets the
// threshold to the best-F1 one of the validation report, and the export
// records it with the other post-processing settings. A reply carries
// "speech_probability" [frames] and "segments" [n, 2] (seconds); request
// parameters (threshold, min_speech_ms, min_silence_ms, speech_pad_ms,
// max_speech_s) override the model's settings. A streaming session's chunk
// gets "speech_probability" for the frames it completed and "events" [n, 2]:
// (seconds, 1) when speech starts, (seconds, 0) when it ends, as
// VadEventDetector finds them; the last chunk closes open speech. See task.h.
#pragma once

#include "common/tasks/task.h"
#include "common/tasks/vad_postprocess.h"

namespace chorus::tasks {

class DetectTask : public Task {
 public:
  static Result<std::unique_ptr<Task>> Create(const nlohmann::json& options);

  const std::string& name() const override;
  OutputKind output_kind() const override { return OutputKind::kPerFrame; }
  int64_t num_outputs() const override { return 1; }
  bool whole_recordings() const override { return true; }
  at::Tensor ExampleTargets(const data::Example& example, double offset_seconds, int64_t frames, double hop_seconds,
                            double window_seconds) const override;
  Targets Collate(const std::vector<at::Tensor>& per_example, int64_t frames, bool pin_memory) const override;
  at::Tensor Loss(const at::Tensor& output, const Targets& targets, double label_smoothing) const override;
  at::Tensor Decisions(const at::Tensor& output, const Targets& targets) const override;
  std::unique_ptr<Evaluation> NewEvaluation(const std::vector<data::Example>& examples,
                                            const std::vector<data::Trial>& trials) const override;
  void Tune(const TaskReport& validation) override;
  nlohmann::json Options() const override { return options_.ToJson(); }
  std::vector<TensorSpec> Outputs() const override;
  nlohmann::json ServedParameters() const override { return options_.ToJson(); }
  Status Decode(const at::Tensor& row, const proto::InferRequest& request, proto::InferReply* reply) const override;
  bool streams() const override { return true; }
  Status DecodeChunk(const at::Tensor& row, int64_t first_frame, bool end, const proto::InferRequest& request,
                     proto::StreamState* state, proto::InferReply* reply) const override;

  const VadOptions& options() const { return options_; }

 private:
  explicit DetectTask(VadOptions options) : options_(options) { labels_ = {"speech"}; }
  // The model's settings with the request's parameters over them.
  Result<VadOptions> RequestOptions(const proto::InferRequest& request) const;
  VadOptions options_;
};

}  // namespace chorus::tasks
