// JobApi: the job-control API as a function from Request to Reply, with no
// sockets: checks the token, then maps submit/list/status/cancel/retry/logs
// and rank 0's reports onto the Scheduler, and deploy/scale/undeploy and the
// serving status onto the Autoscaler. Errors become a Reply whose code is
// the Status code name (NOT_FOUND, INVALID_ARGUMENT, UNAUTHENTICATED, ...).
// Single-threaded, like the Scheduler it drives.
#pragma once

#include <string>

#include "common/proto/job.pb.h"
#include "coordinator/autoscaler.h"
#include "coordinator/job_store.h"
#include "coordinator/scheduler.h"

namespace chorus::coordinator {

class JobApi {
 public:
  // `autoscaler` may be null (serving disabled): serving requests then fail.
  JobApi(std::string token, Scheduler& scheduler, JobStore& store, Autoscaler* autoscaler = nullptr,
         std::string http = "")
      : token_(std::move(token)), scheduler_(scheduler), store_(store), autoscaler_(autoscaler),
        http_(std::move(http)) {}

  proto::Reply Handle(const proto::Request& request);

 private:
  Status Dispatch(const proto::Request& request, proto::Reply* reply);
  Status Serving(const proto::Request& request, proto::Reply* reply);

  std::string token_;
  Scheduler& scheduler_;
  JobStore& store_;
  Autoscaler* autoscaler_;
  std::string http_;
};

}  // namespace chorus::coordinator
