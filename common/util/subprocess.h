// RunCommand: runs a program to completion and captures what it printed, for
// short-lived tools the coordinator drives (sbatch, squeue, scontrol, scancel).
// The program is found on PATH, gets `env` added to this process's
// environment, reads /dev/null, and is killed (SIGKILL) when it outruns
// `timeout`. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace chorus {

struct CommandResult {
  int exit_code = 0;     // 128 + signal when a signal ended it
  std::string out;       // stdout
  std::string err;       // stderr
};

struct CommandOptions {
  std::map<std::string, std::string> env;
  std::chrono::milliseconds timeout{30000};
};

// Fails (Unavailable / DeadlineExceeded) only when the program cannot be
// started or runs past the timeout; a non-zero exit is a result, not an error.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv, const CommandOptions& options = {});

// "a 'b c' d": argv joined for messages and shell scripts (single-quoted where needed).
std::string ShellQuote(const std::string& word);
std::string ShellJoin(const std::vector<std::string>& argv);

}  // namespace chorus
