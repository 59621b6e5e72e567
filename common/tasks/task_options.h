// The task options a training job carries for its task (the JSON that
// Task::Create takes): embed's `embed:` section and its model's embedding
// size; an empty object for the tasks whose settings are not in the job.
// Keeps the trainer from naming a task. Pure; thread-safe; no LibTorch.
#pragma once

#include <nlohmann/json.hpp>

#include "common/config/job_spec.h"

namespace chorus::tasks {

nlohmann::json TaskOptionsFromJob(const config::TrainJobSpec& spec);

}  // namespace chorus::tasks
