// `chorus eval MODEL_DIR|JOB_ID [--data SPEC]`: evaluates an exported model
// on a dataset split. The CLI never loads LibTorch: it hands the work to
// `chorus-worker eval` (beside this executable; worker/train/model_eval.h),
// one process or `mpirun -np N` for --ranks N, and exits with its code.
//
//   MODEL_DIR  a version folder (models/NAME/VERSION); without --data, the
//              job file named in its model.json (source_job) describes the data.
//   JOB_ID     a coordinator job: its exported model, evaluated from the
//              job's working directory (as its ranks ran) so relative
//              dataset paths mean the same; without --data, on the job's own
//              job file. Needs a coordinator (--coordinator, ...).
//
// Exit codes: 0 success, 1 the evaluation failed (or no coordinator, or the
// job exported no model), 2 bad usage: no such model folder or job, a bad
// --data spec, classes that do not fit the model.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "coordinator/cli/job_client.h"

namespace chorus::cli {

class EvalCommands {
 public:
  explicit EvalCommands(const ConnectOptions& connect) : connect_(connect) {}
  void Register(CLI::App& app);
  // The exit code when `chorus eval` was parsed (it does not return on
  // success: the worker replaces this process); std::nullopt otherwise.
  std::optional<int> Run();

 private:
  const ConnectOptions& connect_;
  CLI::App* eval_ = nullptr;
  std::string target_, data_, split_ = "test", out_, device_ = "cpu", format_ = "png";
  int ranks_ = 1, batch_size_ = 0, threads_ = 0;
  bool no_plots_ = false;
};

}  // namespace chorus::cli
