#include "coordinator/job_api.h"

#include <filesystem>

#include "coordinator/client/submit_limits.h"
#include "coordinator/token.h"

namespace chorus::coordinator {

proto::Reply JobApi::Handle(const proto::Request& request) {
  proto::Reply reply;
  Status s = TokensEqual(token_, request.token())
                 ? Dispatch(request, &reply)
                 : Unauthenticated(request.token().empty() ? "the request carries no token"
                                                           : "the request's token is wrong");
  if (!s.ok()) {
    reply.Clear();
    reply.set_error(ValidUtf8(s.message()));  // it may quote what the client sent
  }
  reply.set_code(StatusCodeName(s.code()));
  return reply;
}

Status JobApi::Dispatch(const proto::Request& request, proto::Reply* reply) {
  switch (request.kind_case()) {
    case proto::Request::kPing:
      return Status::Ok();
    case proto::Request::kSubmit: {
      ASSIGN_OR_RETURN(*reply->mutable_job(), scheduler_.Submit(request.submit()));
      return Status::Ok();
    }
    case proto::Request::kList: {
      ASSIGN_OR_RETURN(std::vector<proto::Job> jobs,
                       store_.ListJobs(request.list().active_only(), request.list().limit()));
      for (auto& j : jobs) *reply->mutable_list()->add_jobs() = std::move(j);
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
      reply->mutable_serving()->set_http(http_);
      return Status::Ok();
    }
  }
}

}  // namespace chorus::coordinator
