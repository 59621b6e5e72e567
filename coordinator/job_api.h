// JobApi: the job-control API as a function from Request to Reply, with no
// sockets: checks the token, then maps submit/list/status/cancel/retry/logs
// and rank 0's reports onto the Scheduler. Errors become a Reply whose code is
// the Status code name (NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED, ...).
// Single-threaded, like the Scheduler it drives.
#pragma once

#include <string>

#include "common/proto/job.pb.h"
#include "coordinator/job_store.h"
#include "coordinator/scheduler.h"

namespace chorus::coordinator {

class JobApi {
 public:
  JobApi(std::string token, Scheduler& scheduler, JobStore& store)
      : token_(std::move(token)), scheduler_(scheduler), store_(store) {}

  proto::Reply Handle(const proto::Request& request);

 private:
  Status Dispatch(const proto::Request& request, proto::Reply* reply);

  std::string token_;
  Scheduler& scheduler_;
  JobStore& store_;
};

}  // namespace chorus::coordinator
