// Export of a trained model to the model repository: the weights (read back
// onto the CPU by any server) and model.json with the architecture, input
// shape, front end, labels, clip length, the evaluation figures and the job
// it came from: everything a serving worker needs (common/models/
// model_bundle.h). Thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/config/job_spec.h"
#include "common/models/model.h"
#include "common/tasks/task.h"
#include "common/util/status.h"

namespace chorus::train {

struct ExportRequest {
  const config::TrainJobSpec* spec = nullptr;
  const tasks::Task* task = nullptr;  // its name and settings go into model.json
  models::InputShape shape;
  std::vector<std::string> labels;
  std::optional<tasks::TaskReport> validation;
  std::optional<tasks::TaskReport> test;
};

// The seed of the evaluation batches' silence noise (the trainer's and `chorus eval`'s).
inline uint64_t EvaluationSeed(uint64_t training_seed) { return training_seed ^ 0x5eed; }

// Writes spec->output.model_repository/<model_name>/<next version>/ and
// returns that folder. The model is exported in eval mode and left in
// training mode.
Result<std::string> ExportTrainedModel(models::Model& model, const ExportRequest& request);

}  // namespace chorus::train
