// `chorus speaker`: the speaker registry of an embed deployment, through
// the coordinator's HTTP gateway (the "chorus_speakers" extension,
// gateway.h), which embeds the audio with the deployment's model:
//   chorus speaker enrol DEPLOYMENT NAME FILE...    enrol (or re-enrol) NAME
//   chorus speaker verify DEPLOYMENT NAME FILE      score and accept/reject
//   chorus speaker identify DEPLOYMENT FILE [--top-k K]
//   chorus speaker list DEPLOYMENT
//   chorus speaker delete DEPLOYMENT NAME
// Tables for people, --output json for scripts. Exit codes as for the job
// commands (job_commands.h); verify exits 1 when the speaker is rejected.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "coordinator/cli/job_client.h"

namespace chorus::cli {

class SpeakerCommands {
 public:
  explicit SpeakerCommands(const ConnectOptions& connect) : connect_(connect) {}
  void Register(CLI::App& app);
  std::optional<int> Run();

 private:
  const ConnectOptions& connect_;
  CLI::App *enrol_ = nullptr, *verify_ = nullptr, *identify_ = nullptr, *list_ = nullptr, *delete_ = nullptr;
  std::string deployment_, name_, output_ = "table";
  std::vector<std::string> files_;
  int top_k_ = 3;
};

}  // namespace chorus::cli
