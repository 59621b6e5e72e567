// The serving commands of `chorus`: deploy, undeploy, models, workers,
// scale, infer (any model: prints its outputs), vad (a voice-activity
// model: prints speech segments) and bench (a perf_analyzer-style load
// generator). Control goes
// to the coordinator's job API; inference goes straight to its broker.
// Exit codes as for the job commands (job_commands.h).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/net/rpc_client.h"
#include "common/proto/serve.pb.h"
#include "coordinator/cli/job_client.h"

namespace chorus::cli {

class ServeCommands {
 public:
  explicit ServeCommands(const ConnectOptions& connect) : connect_(connect) {}
  void Register(CLI::App& app);
  std::optional<int> Run();

 private:
  int Deploy();
  int Undeploy();
  int Models();
  int Workers();
  int Scale();
  int Infer();
  int Vad();
  int Bench();
  // Sends `file` to the model; the reply, or an error naming the file.
  Result<proto::InferReply> Send(net::RpcClient& broker, const std::string& token, const std::string& file);

  const ConnectOptions& connect_;
  CLI::App *deploy_ = nullptr, *undeploy_ = nullptr, *models_ = nullptr, *workers_ = nullptr, *scale_ = nullptr,
           *infer_ = nullptr, *vad_ = nullptr, *bench_ = nullptr;
  std::string source_, name_, launcher_ = "local", output_ = "table", duration_ = "10s", file_;
  std::string device_ = "cpu";
  int min_ = 0, max_ = 0, max_batch_ = 8, max_delay_us_ = 0, threads_ = 1, top_k_ = 3, timeout_ms_ = 10000;
  double target_ = 0, up_delay_ = 0, down_delay_ = 0;  // from DefaultScalePolicy() in Register
  std::vector<std::string> files_;
  std::map<std::string, double> parameters_;  // task parameters (vad: threshold, min_speech_ms, ...)
  std::vector<int> concurrency_ = {1, 8, 32};
};

}  // namespace chorus::cli
