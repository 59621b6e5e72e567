#include "common/tasks/task.h"

#include "common/tasks/classify_task.h"
#include "common/tasks/detect_task.h"
#include "common/tasks/embed_task.h"

namespace chorus::tasks {

const char* OutputKindName(OutputKind kind) {
  switch (kind) {
    case OutputKind::kPerClip: return "one output per clip";
    case OutputKind::kPerFrame: return "one output per frame";
    case OutputKind::kEmbedding: return "an embedding per clip";
  }
  return "?";
}

Targets Targets::To(const c10::Device& device, bool non_blocking) const {
  Targets out;
  if (labels.defined()) out.labels = labels.to(device, non_blocking);
  if (frames.defined()) out.frames = frames.to(device, non_blocking);
  if (mask.defined()) out.mask = mask.to(device, non_blocking);
  if (index.defined()) out.index = index.to(device, non_blocking);
  return out;
}

Targets Targets::Select(const at::Tensor& rows) const {
  Targets out;
  if (labels.defined()) out.labels = labels.index_select(0, rows);
  if (frames.defined()) out.frames = frames.index_select(0, rows);
  if (mask.defined()) out.mask = mask.index_select(0, rows);
  if (index.defined()) out.index = index.index_select(0, rows);
  return out;
}

int64_t Targets::size() const { return labels.defined() ? labels.size(0) : frames.defined() ? frames.size(0) : 0; }

Status Task::DecodeChunk(const at::Tensor&, int64_t, bool, const proto::InferRequest&, proto::StreamState*,
                         proto::InferReply*) const {
  return InvalidArgument("task " + name() + " does not stream; send whole clips or recordings without a sequence");
}

const std::vector<std::string>& TaskNames() {
  static const std::vector<std::string> names = {"classify", "detect", "embed"};
  return names;
}

Result<std::unique_ptr<Task>> Task::Create(const std::string& name, std::vector<std::string> labels,
                                           const nlohmann::json& options) {
  if (name == "classify") return ClassifyTask::Create(std::move(labels), options);
  if (name == "detect") return DetectTask::Create(options);
  if (name == "embed") return EmbedTask::Create(std::move(labels), options);
  return InvalidArgument("unknown task '" + name + "' (known: classify, detect, embed)");
}

}  // namespace chorus::tasks
