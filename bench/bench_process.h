// Process helpers for benchmarks that start Chorus daemons: spawn a program
// in a session of its own (so everything it starts can be found again), and
// kill a whole session. Thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace chorus::bench {

// Starts argv (found on PATH) in a new session with stdout+stderr appended to
// `log` and `extra_env` ("K=V") added; returns its pid, or -1.
pid_t SpawnSession(const std::vector<std::string>& argv, const std::string& log,
                   const std::vector<std::string>& extra_env = {});

// SIGKILLs every process of session `sid` (and waits until none is left).
void KillSession(pid_t sid);

}  // namespace chorus::bench
