// Access: who a request comes from (Principal) and what each role may do
// (Permit), as pure functions with no I/O, shared by the job API, the broker,
// the gateway and the dashboard.
//
// Roles (issue 12):
//   admin   everything: deploy, undeploy, scale, any job, credentials
//   submit  submit; list, watch, cancel and retry its own jobs; read-only
//           views of the cluster and of serving
//   infer   inference on its allow-listed models (all when the list is empty)
//   worker  registers with the broker as a serving worker
//   rank    reports for one job's one attempt (its token is derived from the
//           coordinator's secret for that attempt, see Credentials)
// Nobody but admin and worker may say hello to the broker, so an inference
// token cannot pose as a worker and receive other clients' audio.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace chorus::coordinator {

enum class Role { kAdmin, kSubmit, kInfer, kWorker, kRank };

const char* RoleName(Role role);
Result<Role> ParseRole(const std::string& name);  // admin, submit, infer, worker (rank is never issued by hand)

struct Principal {
  std::string id;                   // the credential's id; "root" for the bootstrap token
  Role role = Role::kInfer;
  std::vector<std::string> models;  // infer: allow-list; empty = all
  int64_t job_id = 0;               // rank: the job and attempt it reports for
  int32_t attempt = 0;
  std::string curve_key;            // rank, worker: the CURVE public key issued with the token
};

// The ZAP domains of the coordinator's CURVE sockets, and who may connect:
// on the workers' socket only the worker key; on the job and client sockets
// any key (the token in each request decides).
inline constexpr const char* kJobDomain = "chorus-jobs";
inline constexpr const char* kClientDomain = "chorus-clients";
inline constexpr const char* kWorkerDomain = "chorus-workers";
bool AllowCurvePeer(const std::string& domain, const std::string& public_key, const std::string& worker_key);

// Over CURVE (`peer_key` not empty), a rank or worker token is good only from
// the key it was issued with: UNAUTHENTICATED otherwise, whatever the token.
Status CheckPeerKey(const Principal& who, const std::string& peer_key);

enum class Action {
  kPing,
  kSubmit,
  kListJobs,      // submit: its own jobs only (the caller filters)
  kReadJob,       // status, logs, history
  kControlJob,    // cancel, retry
  kCluster,
  kReport,        // a rank's progress and heartbeats
  kServingStatus,
  kManageServing, // deploy, scale, undeploy, repository load/unload
  kManageTokens,
  kInfer,         // on `model`
  kWorkerHello,   // register or speak as a serving worker
  kDashboard,
};

const char* ActionName(Action action);

// What the action is applied to, where it matters.
struct Target {
  std::string job_owner;  // kReadJob, kControlJob: the job's owner
  int64_t job_id = 0;     // kReport
  int32_t attempt = 0;    // kReport
  std::string model;      // kInfer
};

// OK, or PERMISSION_DENIED naming the role and what it may not do.
Status Permit(const Principal& who, Action action, const Target& target = {});

}  // namespace chorus::coordinator
