// ServedModel: one model version ready to answer requests: the network, its
// front end and its task (common/tasks/task.h), loaded from a model
// repository version folder:
//   model.pt + model.json   a Chorus export (common/models/model_bundle.h), or
//   model.ts + model.json   a TorchScript module saved from Python with
//                           torch.jit.save; model.json ("format":
//                           "torchscript-1") gives name, version, labels,
//                           features, clip_seconds, frames and bins, and
//                           optionally task and task_options (default:
//                           classify).
// An input is WAV bytes (any rate: resampled), PCM, or features. For a clip
// task audio is fitted to the clip length the model was trained on; for a
// recording task (detect) it is taken whole, up to 30 minutes, and batches
// of recordings are padded to the longest, each reply decoded from its own
// frames only. The model returns tensors; the task decodes each row into the
// reply's named outputs and declares them (and the inputs) in info(). The front end runs on
// the CPU; the network runs on the device given to Load (a batch goes to a
// GPU in one copy from pinned memory, its logits come back in one).
// A per-frame model whose network streams (vad_crnn) also serves streaming
// sessions chunk by chunk, many sessions' chunks in one batch (StreamChunks).
// Prepare() is thread-safe; Predict() and StreamChunks() run on one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/proto/serve.pb.h"
#include "common/util/status.h"

namespace at {
class Tensor;
}

namespace chorus::serve {

class ServedModel {
 public:
  // device: cpu, cuda or cuda:N (models::ResolveDevice).
  static Result<std::unique_ptr<ServedModel>> Load(const std::string& version_dir, const std::string& device = "cpu");
  virtual ~ServedModel() = default;

  const proto::ServedModelInfo& info() const { return info_; }
  // Serves it under another name (a deployment's name) than the one it was exported with.
  void Rename(const std::string& name) { info_.set_name(name); }

  // The model's input for one request: features [frames, bins]. Bad input
  // (not audio, wrong shape, NaN) is an InvalidArgument naming what is wrong.
  virtual Result<at::Tensor> Prepare(const proto::InferRequest& request) const = 0;

  // Runs prepared inputs as one batch and writes each reply's outputs (the
  // task's decoding of its row of the model's output).
  virtual Status Predict(const std::vector<at::Tensor>& inputs, const std::vector<const proto::InferRequest*>& requests,
                         std::vector<proto::InferReply*>& replies) = 0;

  // Chunks of streaming sessions (request.sequence), each of another
  // session, run as one batch: each chunk is PCM at the model's rate and
  // continues its session's state (request.stream_state, empty at its
  // start); each reply gets the task's outputs for its chunk and the state
  // after it (reply.stream_state). Everything a session carries travels in
  // that state, so any worker can take its next chunk. Returns each chunk's
  // status (a bad chunk fails alone); a model that does not stream
  // (info().streams()) refuses them all (InvalidArgument).
  virtual std::vector<Status> StreamChunks(const std::vector<const proto::InferRequest*>& requests,
                                           const std::vector<proto::InferReply*>& replies) = 0;
  Status StreamChunk(const proto::InferRequest& request, proto::InferReply* reply) {
    return StreamChunks({&request}, {reply}).front();
  }

 protected:
  proto::ServedModelInfo info_;
};

}  // namespace chorus::serve
