#include "coordinator/job_api.h"

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
    reply.set_error(s.message());
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
      ASSIGN_OR_RETURN(*reply->mutable_logs(), scheduler_.ReadLogs(l.job_id(), l.offset(), l.max_bytes()));
      return Status::Ok();
    }
    case proto::Request::kReport:
      return scheduler_.Report(request.report());
    case proto::Request::KIND_NOT_SET:
      break;
  }
  return InvalidArgument("the request names no operation");
}

}  // namespace chorus::coordinator
