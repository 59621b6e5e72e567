// Learning-rate schedules as one pure function of the step: linear warm-up,
// then constant, step decay, or cosine decay to a floor. Stateless, so a
// resumed run only needs the step to continue exactly. Thread-safe.
#pragma once

#include <cstdint>

#include "common/config/job_spec.h"

namespace chorus::train {

// step counts from 0; total_steps is the planned length of the run.
double LearningRateAt(const config::ScheduleSpec& schedule, double base_lr, int64_t step, int64_t total_steps);

}  // namespace chorus::train
