// The job-control commands of `chorus`: submit, list, status (--plot draws
// the job's curves, history_plot.h), watch, logs, cancel, retry. Each talks
// to the coordinator through JobClient.
//
// Exit codes (also in `chorus --help`):
//   0 success (watch: the job SUCCEEDED)      4 refused: missing or wrong token
//   1 the watched job FAILED or was CANCELLED 5 no such job
//   2 bad usage or an invalid job file        6 not possible in the job's state
//   3 no coordinator answered                 7 any other error
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "coordinator/cli/job_client.h"

namespace chorus::cli {

constexpr const char* kJobExitCodes =
    "Exit codes: 0 success (watch: job SUCCEEDED), 1 watched job FAILED or CANCELLED, 2 bad usage or invalid job "
    "file, 3 no coordinator answered, 4 refused (token), 5 no such job, 6 not possible in the job's state, 7 other "
    "error.";

// Prints "chorus: MESSAGE" and returns the exit code for the status's code.
int FailWith(const Status& status);

class JobCommands {
 public:
  // Adds the subcommands and the connection flags to `app`.
  void Register(CLI::App& app);
  // The exit code of the job command that was parsed; std::nullopt if none was.
  std::optional<int> Run();

  const ConnectOptions& connect() const { return connect_; }

 private:
  int Submit();
  int List();
  int ShowStatus();
  int Watch(int64_t id);
  int Logs();
  int Cancel();
  int Retry();
  int Fail(const Status& status) const { return FailWith(status); }
  Result<JobClient> Client() const;

  ConnectOptions connect_;
  CLI::App *submit_ = nullptr, *list_ = nullptr, *status_ = nullptr, *watch_ = nullptr, *logs_ = nullptr,
           *cancel_ = nullptr, *retry_ = nullptr;
  std::string job_file_, launcher_, name_, output_ = "table";
  std::string request_id_;
  int ranks_ = 1, min_ranks_ = 0, nodes_ = 0, priority_ = 0, max_restarts_ = -1, max_steps_ = 0, threads_ = 0, log_every_steps_ = 0, limit_ = 50;
  bool watch_after_submit_ = false, active_only_ = false, follow_ = false;
  int64_t job_id_ = 0;
  // status --plot: the job's curves into plot_dir_ (history_plot.h)
  bool plot_ = false;
  std::string plot_dir_, plot_format_ = "png";
};

}  // namespace chorus::cli
