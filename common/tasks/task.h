// Task: what a model is trained to do, and everything in Chorus that depends
// on it. The trainer, the evaluator, the exporter and the served model ask
// the task and never name one:
//
//   data        whether examples are fixed-length clips or recordings of
//               any length, and each example's targets (ExampleTargets) and
//               a batch's (Collate: stacked, or padded with a mask);
//   training    the loss, and the decisions counted in the progress line;
//   evaluation  what an evaluation pass accumulates (sums across ranks) and
//               the report it makes, including the score that picks the
//               best model; Tune() lets the task settle its decision
//               parameters on the validation report (a VAD threshold);
//   export      what model.json records ("task" and "task_options");
//   serving     the outputs a reply carries (declared for the Open Inference
//               Protocol metadata) and how one row of model output becomes
//               them (Decode); for a streaming session, how each chunk's
//               rows become outputs, with what the task carries between
//               chunks kept in the session's state (DecodeChunk).
//
// Tasks: classify (a clip to class scores: keyword spotting), detect (a
// recording to a speech probability per frame and speech segments: voice
// activity), embed (a clip to a speaker embedding: speaker recognition).
// Thread-safe after Tune (const methods); Tune is called by one thread
// before serving starts.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "common/data/example.h"
#include "common/proto/serve.pb.h"
#include "common/tasks/roc.h"
#include "common/util/status.h"

namespace chorus::tasks {

// What a model's forward() returns per batch.
enum class OutputKind {
  kPerClip,   // [B, outputs]: one vector per example
  kPerFrame,  // [B, T]: one value per feature frame
  kEmbedding, // eval mode [B, D]: an embedding per example; training mode
              // [B, classes]: cosines to each training class's centre
};
const char* OutputKindName(OutputKind kind);

// A batch's targets, built on the host (pinned when asked) and moved to the
// model's device with To().
struct Targets {
  at::Tensor labels;  // per clip: [B] int64
  at::Tensor frames;  // per frame: [B, T] float, 1 = speech
  at::Tensor mask;    // per frame: [B, T] float, 1 = a real frame, 0 = padding
  at::Tensor index;   // [B] int64: each example's position in its split (set by the batch loader)
  Targets To(const c10::Device& device, bool non_blocking) const;
  // The examples at `rows` ([n] int64, on the targets' device), in that order.
  Targets Select(const at::Tensor& rows) const;
  int64_t size() const;  // examples
};

struct TaskReport {
  std::string task;
  std::string score_name;  // what picks the best model (higher is better)
  double score = 0;
  double loss = 0;         // mean per example (classify) or per frame (detect)
  int64_t count = 0;       // examples
  nlohmann::json details;  // everything else, for eval.json
  std::string table;       // for people
  // Whole ROC curves, for plots (roc.h): one-vs-rest per class (classify),
  // speech frames (detect), verification trials (embed). Empty when the
  // split lacks a positive or a negative.
  std::vector<NamedRoc> curves;
  // classify: each example's class probabilities, in the split's order.
  std::vector<std::vector<double>> example_scores;
};

// One evaluation pass: Add batches, sum Counts() across ranks, SetCounts(sum), Report().
class Evaluation {
 public:
  virtual ~Evaluation() = default;
  // output and targets on the model's device; frames_per_row: real frames of each row (per-frame tasks).
  virtual void Add(const at::Tensor& output, const Targets& targets) = 0;
  virtual at::Tensor Counts() const = 0;  // float64, on the device of the last Add (CPU if none)
  virtual void SetCounts(const at::Tensor& summed) = 0;
  virtual TaskReport Report() const = 0;
};

// A name, an OIP datatype (FP32, INT64, BYTES) and a shape (-1: any).
struct TensorSpec {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
};

class Task {
 public:
  // name: classify | detect | embed. labels: the dataset's classes (classify).
  // options: the task's own settings (detect: the post-processing,
  // vad_postprocess.h), from a job or from model.json.
  static Result<std::unique_ptr<Task>> Create(const std::string& name, std::vector<std::string> labels,
                                              const nlohmann::json& options = nlohmann::json::object());
  virtual ~Task() = default;

  virtual const std::string& name() const = 0;
  virtual OutputKind output_kind() const = 0;
  virtual int64_t num_outputs() const = 0;  // per clip: classes; per frame: 1
  const std::vector<std::string>& labels() const { return labels_; }

  // ---- data ----
  // True: examples are whole recordings of any length (cropped for training);
  // false: fixed-length clips.
  virtual bool whole_recordings() const = 0;
  // The targets of one example whose features have `frames` frames, the
  // first starting `offset_seconds` into the recording, frame i covering
  // [offset + i * hop, offset + i * hop + window) seconds.
  virtual at::Tensor ExampleTargets(const data::Example& example, double offset_seconds, int64_t frames,
                                    double hop_seconds, double window_seconds) const = 0;
  // Stacks (or pads, with a mask) per-example targets; frames: the batch's feature length.
  virtual Targets Collate(const std::vector<at::Tensor>& per_example, int64_t frames, bool pin_memory) const = 0;

  // ---- training ----
  virtual at::Tensor Loss(const at::Tensor& output, const Targets& targets, double label_smoothing) const = 0;
  // [2] float64 on the output's device: decisions right, decisions made.
  virtual at::Tensor Decisions(const at::Tensor& output, const Targets& targets) const = 0;

  // ---- evaluation ----
  // examples: the split evaluated (Targets::index points into it); trials:
  // its explicit verification trials, if any (embed).
  virtual std::unique_ptr<Evaluation> NewEvaluation(const std::vector<data::Example>& examples,
                                                    const std::vector<data::Trial>& trials) const = 0;
  // Settles decision parameters on a validation report (no-op by default).
  virtual void Tune(const TaskReport& validation) {}

  // ---- export ----
  virtual nlohmann::json Options() const { return nlohmann::json::object(); }

  // ---- serving ----
  // A request's audio (at the model's rate) before its features are made:
  // an InvalidArgument saying what is wrong with it for this task (an
  // embedding needs enough non-silent audio). Accepts everything by default.
  virtual Status CheckAudio(const std::vector<float>& samples, int sample_rate) const { return Status::Ok(); }
  virtual std::vector<TensorSpec> Outputs() const = 0;
  // Task parameters served to clients in the model metadata.
  virtual nlohmann::json ServedParameters() const = 0;
  // One row of model output (per clip: [outputs]; per frame: [frames], only
  // the real frames) into the reply's outputs. Request parameters the task
  // does not know are an InvalidArgument naming them.
  virtual Status Decode(const at::Tensor& row, const proto::InferRequest& request, proto::InferReply* reply) const = 0;

  // ---- streaming sessions ----
  // True: the task decodes a stream chunk by chunk. A per-frame task's
  // network must stream (carry its state between chunks); a clip task is
  // scored on a sliding window (window_streaming).
  virtual bool streams() const { return false; }
  // How a clip task streams: a window of the clip's length ending every
  // hop_seconds, those quieter than min_level_db (RMS dB full scale) left
  // unscored. nullopt: frame by frame (or not at all).
  struct WindowStreaming {
    double hop_seconds = 0;
    double min_level_db = 0;
  };
  virtual std::optional<WindowStreaming> window_streaming() const { return std::nullopt; }
  // One chunk of a session: `row` holds the network's outputs for the frames
  // the chunk completed ([frames], maybe none), the first being frame
  // `first_frame` of the stream; for a window stream, one row per window the
  // chunk completed ([windows, outputs], NaN for a window too quiet to
  // score), the first being window `first_frame` (counted from 1, window w
  // ending at w * hop_seconds). `end`: the session's last chunk. Reads and
  // updates the task's part of `state` (and nothing else of it), and writes
  // the reply's outputs. The same chunks give the same outputs whatever
  // worker decodes each, since everything carried is in `state`.
  virtual Status DecodeChunk(const at::Tensor& row, int64_t first_frame, bool end, const proto::InferRequest& request,
                             proto::StreamState* state, proto::InferReply* reply) const;

 protected:
  std::vector<std::string> labels_;
};

// The names Task::Create knows.
const std::vector<std::string>& TaskNames();

}  // namespace chorus::tasks
