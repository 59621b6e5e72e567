// JobApi: the job-control API as a function from Request to Reply, with no
// sockets: authenticates the token (Credentials) and checks its role may do
// the request (Permit), then maps submit/list/status/cancel/retry/logs and
// rank 0's reports onto the Scheduler, deploy/scale/undeploy and the serving
// status onto the Autoscaler, and token create/list/revoke onto Credentials.
// A submit credential sees and controls only the jobs it submitted. Every
// action that changes something, and every refusal, goes to the audit log
// (refusals of requests without a valid token at most 10 a second).
// Errors become a Reply whose code is the Status code name (NOT_FOUND,
// INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, ...).
// Single-threaded, like the Scheduler it drives.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "common/proto/job.pb.h"
#include "common/util/rate_limit.h"
#include "coordinator/access.h"
#include "coordinator/audit_log.h"
#include "coordinator/credentials.h"
#include "coordinator/serving/autoscaler.h"
#include "coordinator/training/job_store.h"
#include "coordinator/training/scheduler.h"

namespace chorus::coordinator {

struct JobApiOptions {
  std::string http;                      // the gateway's URL, for the serving status
  std::vector<std::string> model_roots;  // folders deploys may name (absolute); empty: none may
  AuditLog* audit = nullptr;             // null: nothing written
};

// Checks that `dir` (resolved: "..", symbolic links) lies inside one of
// `roots`; PERMISSION_DENIED naming them otherwise.
Status CheckInsideModelRoots(const std::string& dir, const std::vector<std::string>& roots);

class JobApi {
 public:
  // `autoscaler` may be null (serving disabled): serving requests then fail.
  JobApi(Credentials& credentials, Scheduler& scheduler, JobStore& store, Autoscaler* autoscaler = nullptr,
         JobApiOptions options = {})
      : credentials_(credentials), scheduler_(scheduler), store_(store), autoscaler_(autoscaler),
        options_(std::move(options)) {}

  // `peer_key`: the sender's CURVE public key ("" : not over CURVE); a rank
  // token counts only from its attempt's key.
  proto::Reply Handle(const proto::Request& request, const std::string& peer_key = "");

 private:
  Status Dispatch(const Principal& who, const proto::Request& request, proto::Reply* reply);
  Status Serving(const proto::Request& request, proto::Reply* reply);
  Status Tokens(const Principal& who, const proto::Request& request, proto::Reply* reply);
  // Permit for a job's owner (NOT_FOUND first for an unknown job).
  Status PermitJob(const Principal& who, Action action, int64_t job_id);

  Credentials& credentials_;
  Scheduler& scheduler_;
  JobStore& store_;
  Autoscaler* autoscaler_;
  JobApiOptions options_;
  // Audit lines for requests with no valid token: at most 10 a second.
  LogRateLimit unauthenticated_limit_{10};
};

}  // namespace chorus::coordinator
