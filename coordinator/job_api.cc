#include "coordinator/job_api.h"

#include <filesystem>

#include "coordinator/client/submit_limits.h"

namespace chorus::coordinator {

namespace {

// What the request does, for Permit and the audit log, and its target.
struct Described {
  Action action;
  const char* name;
  std::string target;
  bool changes;        // written to the audit log even when it succeeds
  int64_t job_id = 0;  // the job it reads, controls or reports for
};

Described Describe(const proto::Request& r) {
  auto on_job = [](Action action, const char* name, int64_t id, bool changes) {
    return Described{action, name, "job " + std::to_string(id), changes, id};
  };
  switch (r.kind_case()) {
    case proto::Request::kSubmit: return {Action::kSubmit, "submit", r.submit().spec_path(), true};
    case proto::Request::kList: return {Action::kListJobs, "list", "", false};
    case proto::Request::kStatus: return on_job(Action::kReadJob, "status", r.status().job_id(), false);
    case proto::Request::kCancel: return on_job(Action::kControlJob, "cancel", r.cancel().job_id(), true);
    case proto::Request::kRetry: return on_job(Action::kControlJob, "retry", r.retry().job_id(), true);
    case proto::Request::kLogs: return on_job(Action::kReadJob, "logs", r.logs().job_id(), false);
    case proto::Request::kHistory: return on_job(Action::kReadJob, "history", r.history().job_id(), false);
    case proto::Request::kCluster: return {Action::kCluster, "cluster", "", false};
    case proto::Request::kReport: return on_job(Action::kReport, "report", r.report().job_id(), false);
    case proto::Request::kDeploy:
      return {Action::kManageServing, "deploy", "deployment " + r.deploy().deployment().name(), true};
    case proto::Request::kScale: return {Action::kManageServing, "scale", "deployment " + r.scale().name(), true};
    case proto::Request::kUndeploy: return {Action::kManageServing, "undeploy", "deployment " + r.undeploy(), true};
    case proto::Request::kServing: return {Action::kServingStatus, "serving", "", false};
    case proto::Request::kTokenCreate:
      return {Action::kManageTokens, "token_create", "role " + r.token_create().role(), true};
    case proto::Request::kTokenList: return {Action::kManageTokens, "token_list", "", false};
    case proto::Request::kTokenRevoke: return {Action::kManageTokens, "token_revoke", "credential " + r.token_revoke(), true};
    case proto::Request::kPing:
    case proto::Request::KIND_NOT_SET: break;
  }
  return {Action::kPing, "ping", "", false};
}

}  // namespace

Status CheckInsideModelRoots(const std::string& dir, const std::vector<std::string>& roots) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(fs::path(dir), ec);
  std::string listed;
  for (const auto& root : roots) {
    const fs::path base = fs::weakly_canonical(fs::path(root), ec);
    listed += (listed.empty() ? "" : ", ") + root;
    if (ec) continue;
    const fs::path rel = real.lexically_relative(base);
    if (!rel.empty() && *rel.begin() != ".." && rel.is_relative()) return Status::Ok();
  }
  return PermissionDenied("the model folder " + dir + " is outside the model roots this coordinator deploys from (" +
                          (listed.empty() ? "none: set serving.model_roots" : "serving.model_roots: " + listed) +
                          "); deploy by job id, or copy it into a root");
}

proto::Reply JobApi::Handle(const proto::Request& request, const std::string& peer_key) {
  proto::Reply reply;
  Described what = Describe(request);
  Result<Principal> who = credentials_.Authenticate(request.token());
  Status s = who.status();
  if (s.ok()) s = CheckPeerKey(*who, peer_key);
  if (s.ok()) {
    switch (what.action) {
      case Action::kReadJob:
      case Action::kControlJob:
        s = PermitJob(*who, what.action, what.job_id);
        break;
      case Action::kReport:
        s = Permit(*who, what.action, {"", what.job_id, request.report().attempt(), ""});
        break;
      default:
        s = Permit(*who, what.action);
    }
    if (s.ok()) s = Dispatch(*who, request, &reply);
  }
  if (reply.has_token_created())
    what.target = "credential " + reply.token_created().credential().id() + " (" + what.target + ")";
  if (options_.audit && (what.changes || !s.ok()) && what.action != Action::kReport) {
    if (who.ok()) {
      options_.audit->Write({who->id, RoleName(who->role), what.name, what.target, s});
    } else if (unauthenticated_limit_.Allow(std::chrono::steady_clock::now())) {
      // Requests without a valid token cost the sender nothing: at most a
      // few lines a second, the rest counted in the next line.
      const int64_t dropped = unauthenticated_limit_.TakeDropped();
      options_.audit->Write({"-", "", what.name,
                             what.target + (dropped ? " (" + std::to_string(dropped) + " more not logged)" : ""), s});
    }
  }
  if (!s.ok()) {
    reply.Clear();
    reply.set_error(ValidUtf8(s.message()));  // it may quote what the client sent
  }
  reply.set_code(StatusCodeName(s.code()));
  return reply;
}

Status JobApi::PermitJob(const Principal& who, Action action, int64_t job_id) {
  if (who.role == Role::kAdmin) return Status::Ok();
  // A role that may not touch even its own jobs learns nothing of which exist.
  RETURN_IF_ERROR(Permit(who, action, {who.id, 0, 0, ""}));
  ASSIGN_OR_RETURN(proto::Job job, store_.LoadJob(job_id));
  return Permit(who, action, {job.owner(), 0, 0, ""});
}

Status JobApi::Dispatch(const Principal& who, const proto::Request& request, proto::Reply* reply) {
  switch (request.kind_case()) {
    case proto::Request::kPing:
      return Status::Ok();
    case proto::Request::kSubmit: {
      ASSIGN_OR_RETURN(*reply->mutable_job(), scheduler_.Submit(request.submit(), who.id));
      return Status::Ok();
    }
    case proto::Request::kList: {
      // A submit credential lists its own jobs: the limit counts those.
      const bool own = who.role != Role::kAdmin;
      ASSIGN_OR_RETURN(std::vector<proto::Job> jobs,
                       store_.ListJobs(request.list().active_only(), own ? 0 : request.list().limit()));
      int listed = 0;
      for (auto& j : jobs) {
        if (own && j.owner() != who.id) continue;
        if (own && request.list().limit() > 0 && listed == request.list().limit()) break;
        *reply->mutable_list()->add_jobs() = std::move(j);
        ++listed;
      }
      return Status::Ok();
    }
    case proto::Request::kStatus: {
      ASSIGN_OR_RETURN(*reply->mutable_job(), scheduler_.Get(request.status().job_id()));
      return Status::Ok();
    }
    case proto::Request::kCancel: {
      ASSIGN_OR_RETURN(*reply->mutable_job(), scheduler_.Cancel(request.cancel().job_id()));
      return Status::Ok();
    }
    case proto::Request::kRetry: {
      ASSIGN_OR_RETURN(*reply->mutable_job(), scheduler_.Retry(request.retry().job_id(), request.retry().ranks()));
      return Status::Ok();
    }
    case proto::Request::kLogs: {
      const auto& l = request.logs();
      ASSIGN_OR_RETURN(*reply->mutable_logs(), scheduler_.ReadLogs(l.job_id(), l.offset(), l.max_bytes(), l.tail()));
      return Status::Ok();
    }
    case proto::Request::kHistory: {
      const auto& h = request.history();
      ASSIGN_OR_RETURN(*reply->mutable_history(), scheduler_.History(h.job_id(), h.after_step()));
      return Status::Ok();
    }
    case proto::Request::kCluster:
      *reply->mutable_cluster() = scheduler_.Cluster();
      return Status::Ok();
    case proto::Request::kReport:
      return scheduler_.Report(request.report());
    case proto::Request::kDeploy:
    case proto::Request::kScale:
    case proto::Request::kServing:
    case proto::Request::kUndeploy:
      return Serving(request, reply);
    case proto::Request::kTokenCreate:
    case proto::Request::kTokenList:
    case proto::Request::kTokenRevoke:
      return Tokens(who, request, reply);
    case proto::Request::KIND_NOT_SET:
      break;
  }
  return InvalidArgument("the request names no operation");
}

Status JobApi::Serving(const proto::Request& request, proto::Reply* reply) {
  if (!autoscaler_) return FailedPrecondition("serving is disabled in this coordinator's configuration");
  switch (request.kind_case()) {
    case proto::Request::kDeploy: {
      proto::Deployment d = request.deploy().deployment();
      if (request.deploy().job_id() > 0) {
        ASSIGN_OR_RETURN(proto::Job job, store_.LoadJob(request.deploy().job_id()));
        if (job.export_dir().empty())
          return FailedPrecondition("job " + std::to_string(job.id()) + " has not exported a model (state " +
                                    JobStateName(job.state()) + ")");
        std::filesystem::path dir(job.export_dir());
        d.set_model_dir((dir.is_absolute() ? dir : std::filesystem::path(job.workdir()) / dir)
                            .lexically_normal()
                            .string());
      } else {
        RETURN_IF_ERROR(CheckInsideModelRoots(d.model_dir(), options_.model_roots));
      }
      ASSIGN_OR_RETURN(*reply->mutable_deployment(), autoscaler_->Deploy(d));
      return Status::Ok();
    }
    case proto::Request::kScale: {
      const auto& s = request.scale();
      ASSIGN_OR_RETURN(*reply->mutable_deployment(), autoscaler_->Scale(s.name(), s.min_workers(), s.max_workers()));
      return Status::Ok();
    }
    case proto::Request::kUndeploy:
      return autoscaler_->Undeploy(request.undeploy());
    default: {
      *reply->mutable_serving() = autoscaler_->ServingStatus();
      reply->mutable_serving()->set_http(options_.http);
      return Status::Ok();
    }
  }
}

Status JobApi::Tokens(const Principal& who, const proto::Request& request, proto::Reply* reply) {
  switch (request.kind_case()) {
    case proto::Request::kTokenCreate: {
      ASSIGN_OR_RETURN(*reply->mutable_token_created(), credentials_.Create(request.token_create(), who.id));
      return Status::Ok();
    }
    case proto::Request::kTokenRevoke:
      return credentials_.Revoke(request.token_revoke());
    default:
      for (auto& c : credentials_.List()) *reply->mutable_credentials()->add_credentials() = std::move(c);
      return Status::Ok();
  }
}

}  // namespace chorus::coordinator
