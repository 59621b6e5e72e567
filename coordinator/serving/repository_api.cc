#include "coordinator/serving/repository_api.h"

#include <filesystem>
#include <map>
#include <set>

#include "coordinator/names.h"
#include "coordinator/serving/autoscaler.h"

namespace chorus::coordinator {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A version folder's number: its name when that is a positive integer, else 0.
int64_t FolderVersion(const fs::path& dir) { return ParseVersion(dir.filename().string()); }

// The versions of repository/NAME that hold a model (model.json), highest last.
std::set<int64_t> Versions(const fs::path& model_dir) {
  std::set<int64_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(model_dir, ec))
    if (const int64_t v = FolderVersion(e.path()); v > 0 && fs::exists(e.path() / "model.json", ec)) out.insert(v);
  return out;
}

// A JSON parameter that must be a positive integer when present.
Result<int64_t> PositiveParameter(const json& parameters, const std::string& key, int64_t fallback) {
  if (!parameters.contains(key)) return fallback;
  const json& v = parameters[key];
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > 1'000'000)
    return InvalidArgument("parameters." + key + " must be an integer in [0, 1000000]");
  return v.get<int64_t>();
}

}  // namespace

Result<proto::ServingStatus> RepositoryApi::Status() {
  proto::Request request;
  request.set_serving(true);
  ASSIGN_OR_RETURN(proto::Reply reply, control_(request));
  return reply.serving();
}

Result<json> RepositoryApi::Index(bool ready_only) {
  ASSIGN_OR_RETURN(proto::ServingStatus status, Status());
  json out = json::array();
  std::set<std::string> listed;
  for (const auto& m : status.models()) {
    const auto& d = m.deployment();
    if (d.name().empty() || d.name() == "_unknown_") continue;
    listed.insert(d.name());
    const bool ready = m.workers() > 0;
    if (ready_only && !ready) continue;
    json entry = {{"name", d.name()}, {"state", ready ? "READY" : "UNAVAILABLE"}};
    if (const int64_t v = FolderVersion(d.model_dir()); v > 0) entry["version"] = std::to_string(v);
    if (!ready)
      entry["reason"] = d.model_dir().empty() ? "no worker serves it"
                                              : "no worker ready yet (" + std::to_string(m.desired()) + " wanted)";
    out.push_back(std::move(entry));
  }
  if (ready_only || repository_.empty()) return out;
  std::error_code ec;
  std::map<std::string, int64_t> undeployed;  // sorted by name
  for (const auto& e : fs::directory_iterator(repository_, ec)) {
    const std::string name = e.path().filename().string();
    if (listed.count(name) || !ValidateName("model", name).ok()) continue;
    const std::set<int64_t> versions = Versions(e.path());
    if (!versions.empty()) undeployed[name] = *versions.rbegin();
  }
  for (const auto& [name, version] : undeployed)
    out.push_back({{"name", name}, {"version", std::to_string(version)}, {"state", "UNAVAILABLE"}, {"reason", "not loaded"}});
  return out;
}

Result<json> RepositoryApi::Load(const std::string& model, const json& parameters) {
  RETURN_IF_ERROR(ValidateName("model", model));
  if (repository_.empty())
    return FailedPrecondition("this coordinator has no model repository (set serving.model_repository)");
  if (!parameters.is_object()) return InvalidArgument("parameters must be an object");
  const fs::path root = fs::path(repository_) / model;
  const std::set<int64_t> versions = Versions(root);
  if (versions.empty()) return NotFound("no model '" + model + "' in the repository " + repository_);
  ASSIGN_OR_RETURN(int64_t version, PositiveParameter(parameters, "version", *versions.rbegin()));
  if (!versions.count(version))
    return NotFound("model '" + model + "' has no version " + std::to_string(version) + " in the repository");

  // A deployed model keeps its policy: loading another version rolls it in.
  ASSIGN_OR_RETURN(proto::ServingStatus status, Status());
  proto::Deployment d;
  *d.mutable_policy() = DefaultScalePolicy();
  for (const auto& m : status.models())
    if (m.deployment().name() == model && !m.deployment().model_dir().empty()) d = m.deployment();
  ASSIGN_OR_RETURN(int64_t min_workers, PositiveParameter(parameters, "min_workers", d.policy().min_workers()));
  ASSIGN_OR_RETURN(int64_t max_workers, PositiveParameter(parameters, "max_workers", d.policy().max_workers()));
  d.set_name(model);
  d.set_model_dir((root / std::to_string(version)).string());
  d.mutable_policy()->set_min_workers(static_cast<int32_t>(min_workers));
  d.mutable_policy()->set_max_workers(static_cast<int32_t>(max_workers));
  proto::Request request;
  *request.mutable_deploy()->mutable_deployment() = d;
  ASSIGN_OR_RETURN(proto::Reply reply, control_(request));
  return json{{"name", model},
              {"version", std::to_string(version)},
              {"min_workers", reply.deployment().policy().min_workers()},
              {"max_workers", reply.deployment().policy().max_workers()}};
}

Result<json> RepositoryApi::Unload(const std::string& model) {
  RETURN_IF_ERROR(ValidateName("model", model));
  proto::Request request;
  request.set_undeploy(model);
  ASSIGN_OR_RETURN(proto::Reply reply, control_(request));
  return json{{"name", model}, {"unloaded", true}};
}

}  // namespace chorus::coordinator
