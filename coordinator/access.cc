#include "coordinator/access.h"

#include <algorithm>

namespace chorus::coordinator {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kAdmin: return "admin";
    case Role::kSubmit: return "submit";
    case Role::kInfer: return "infer";
    case Role::kWorker: return "worker";
    case Role::kRank: return "rank";
  }
  return "?";
}

Result<Role> ParseRole(const std::string& name) {
  for (Role r : {Role::kAdmin, Role::kSubmit, Role::kInfer, Role::kWorker})
    if (name == RoleName(r)) return r;
  return InvalidArgument("unknown role '" + name + "' (one of admin, submit, infer, worker)");
}

const char* ActionName(Action action) {
  switch (action) {
    case Action::kPing: return "ping";
    case Action::kSubmit: return "submit jobs";
    case Action::kListJobs: return "list jobs";
    case Action::kReadJob: return "read this job";
    case Action::kControlJob: return "cancel or retry this job";
    case Action::kCluster: return "see the cluster";
    case Action::kReport: return "report for this job attempt";
    case Action::kServingStatus: return "see the serving status";
    case Action::kManageServing: return "deploy, scale or undeploy models";
    case Action::kManageTokens: return "manage credentials";
    case Action::kInfer: return "infer";
    case Action::kWorkerHello: return "register as a serving worker";
    case Action::kDashboard: return "use the dashboard";
  }
  return "?";
}

namespace {

bool Allowed(const Principal& who, Action action, const Target& t) {
  if (action == Action::kPing) return true;
  switch (who.role) {
    case Role::kAdmin:
      return true;
    case Role::kSubmit:
      switch (action) {
        case Action::kSubmit:
        case Action::kListJobs:
        case Action::kCluster:
        case Action::kServingStatus:
          return true;
        case Action::kReadJob:
        case Action::kControlJob:
          return !t.job_owner.empty() && t.job_owner == who.id;
        default:
          return false;
      }
    case Role::kInfer:
      if (action == Action::kServingStatus) return true;
      if (action != Action::kInfer) return false;
      return who.models.empty() || std::find(who.models.begin(), who.models.end(), t.model) != who.models.end();
    case Role::kWorker:
      return action == Action::kWorkerHello;
    case Role::kRank:
      return action == Action::kReport && t.job_id == who.job_id && t.attempt == who.attempt;
  }
  return false;
}

}  // namespace

Status Permit(const Principal& who, Action action, const Target& target) {
  if (Allowed(who, action, target)) return Status::Ok();
  std::string what = ActionName(action);
  if (action == Action::kInfer) what += " on model '" + target.model + "'";
  if (action == Action::kReadJob || action == Action::kControlJob) what += " (it is not its own)";
  return PermissionDenied("credential " + who.id + " (role " + RoleName(who.role) + ") may not " + what);
}

bool AllowCurvePeer(const std::string& domain, const std::string& public_key, const std::string& worker_key) {
  if (domain == kWorkerDomain) return public_key == worker_key;
  return domain == kJobDomain || domain == kClientDomain;
}

Status CheckPeerKey(const Principal& who, const std::string& peer_key) {
  if (peer_key.empty() || who.curve_key.empty() || who.curve_key == peer_key) return Status::Ok();
  return Unauthenticated("this " + std::string(RoleName(who.role)) +
                         " token is good only from the CURVE key it was issued with");
}

}  // namespace chorus::coordinator
