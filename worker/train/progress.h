// What a training run tells the outside world while it runs. The trainer
// calls a ProgressReporter from its training thread; implementations print
// (LogProgressReporter), or, in later parts, send to the coordinator.
#pragma once

#include <cstdint>
#include <string>

#include "common/tasks/task.h"

namespace chorus::train {

struct StepProgress {
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t epoch = 0;
  double loss = 0;              // mean over the steps since the last report
  double accuracy = 0;          // training accuracy over the same steps
  double learning_rate = 0;
  double samples_per_second = 0;
  double eta_seconds = 0;
};

class ProgressReporter {
 public:
  virtual ~ProgressReporter() = default;
  virtual void OnStep(const StepProgress& progress) = 0;
  virtual void OnEvaluation(int64_t step, const std::string& split, const tasks::TaskReport& report) = 0;
  virtual void OnCheckpoint(int64_t step, const std::string& path) = 0;
};

// Prints one line per event through spdlog.
class LogProgressReporter : public ProgressReporter {
 public:
  void OnStep(const StepProgress& p) override;
  void OnEvaluation(int64_t step, const std::string& split, const tasks::TaskReport& report) override;
  void OnCheckpoint(int64_t step, const std::string& path) override;
};

}  // namespace chorus::train
