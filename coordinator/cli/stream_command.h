// `chorus stream NAME FILE`: plays an audio file to a served streaming model
// (a voice-activity detector, a keyword spotter) as a live stream: chunks of
// --chunk-ms, in real time or as fast as answers come, as one streaming
// session (Triton's sequence convention: the first chunk starts it, the last
// ends it), with the task parameters of --param on every chunk. Prints each
// event as its chunk is answered ("1.23 s  speech starts", "2.40 s  keyword
// yes (0.91)"), then the
// chunk latencies and the workers that served the session. The file is read
// and resampled once to the model's rate (from the coordinator's serving
// status). Exit codes as for the job commands (job_commands.h); a chunk
// refused or failed ends the stream with exit code 1.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "coordinator/cli/job_client.h"

namespace chorus::cli {

class StreamCommand {
 public:
  explicit StreamCommand(const ConnectOptions& connect) : connect_(connect) {}
  void Register(CLI::App& app);
  std::optional<int> Run();

 private:
  int Stream();

  const ConnectOptions& connect_;
  CLI::App* command_ = nullptr;
  std::string name_, file_, sequence_id_, output_ = "table";
  std::vector<std::string> params_;  // KEY=VALUE
  double chunk_ms_ = 32;
  bool real_time_ = false;
  int timeout_ms_ = 10000;
};

}  // namespace chorus::cli
