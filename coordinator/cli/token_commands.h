// The credential commands of `chorus` (admin only, issue 12's roles):
//   chorus token create --role R [--models a,b] [--expires 30d] [--name TEXT]
//       prints the new token once (the coordinator keeps only its SHA-256)
//   chorus token list [--output table|json]
//   chorus token revoke ID
// Roles: admin, submit (its own jobs), infer (its models), worker (serving
// workers). Exit codes as the job commands' (job_commands.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "coordinator/cli/job_client.h"

namespace chorus::cli {

// "90s", "15m", "12h", "30d" (or plain seconds) as seconds; InvalidArgument otherwise.
Result<double> ParseDuration(const std::string& text);

class TokenCommands {
 public:
  explicit TokenCommands(const ConnectOptions& connect) : connect_(connect) {}
  void Register(CLI::App& app);
  std::optional<int> Run();

 private:
  int Create();
  int List();
  int Revoke();

  const ConnectOptions& connect_;
  CLI::App *create_ = nullptr, *list_ = nullptr, *revoke_ = nullptr;
  std::string role_, expires_, name_, id_, output_ = "table";
  std::vector<std::string> models_;
};

}  // namespace chorus::cli
