// RepositoryApi: the model repository extension of the v2 HTTP API, as
// Triton names it, over Chorus deployments:
//
//   Index   every deployment with its version and state (READY when a worker
//           serves it, else UNAVAILABLE and why), then every model folder of
//           the repository that is not deployed (UNAVAILABLE, "not loaded").
//   Load    deploys repository/NAME/VERSION (the highest version unless
//           parameters.version names one). A model already deployed keeps
//           its scaling policy, so loading a new version is a rolling update
//           (autoscaler.h); parameters.min_workers / max_workers set it.
//   Unload  undeploys: the workers drain, then exit.
//
// The repository is a folder of NAME/VERSION/ model folders (what training
// jobs export). Deployments are changed through the coordinator's control
// requests (the same ones `chorus deploy` sends), reached through one
// function: the gateway's control client in production, a fake in tests.
// Thread-safe.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/proto/job.pb.h"
#include "common/util/status.h"

namespace chorus::coordinator {

class RepositoryApi {
 public:
  // Sends one control request; the reply's code is already turned into the Status.
  using Control = std::function<Result<proto::Reply>(const proto::Request&)>;

  // `repository`: an absolute folder, or "" for none (Load is then refused).
  RepositoryApi(std::string repository, Control control)
      : repository_(std::move(repository)), control_(std::move(control)) {}

  Result<nlohmann::json> Index(bool ready_only);
  Result<nlohmann::json> Load(const std::string& model, const nlohmann::json& parameters);
  Result<nlohmann::json> Unload(const std::string& model);

 private:
  Result<proto::ServingStatus> Status();

  std::string repository_;
  Control control_;
};

}  // namespace chorus::coordinator
