#include "common/tasks/task_options.h"

namespace chorus::tasks {

nlohmann::json TaskOptionsFromJob(const config::TrainJobSpec& spec) {
  if (spec.task != "embed") return nlohmann::json::object();
  return {{"margin", spec.embed.margin},
          {"scale", spec.embed.scale},
          {"enrol_utterances", spec.embed.enrol_utterances},
          {"min_seconds", spec.embed.min_seconds},
          {"embedding_dim", spec.model.embedding_dim}};
}

}  // namespace chorus::tasks
