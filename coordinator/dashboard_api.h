// DashboardApi: the JSON the dashboard reads, which scripts may read too.
// Every answer is a JSON object; messages of job.proto appear in protobuf's
// JSON mapping with their .proto field names (64-bit integers as strings,
// enums by name). GET routes, all behind the bearer token:
//
//   /api/v1/jobs[?active=1][&limit=N]     {"jobs": [Job...]}, newest first (limit: 1..1000, default 200)
//   /api/v1/jobs/ID                       Job, with attempt_history and evaluations
//   /api/v1/jobs/ID/history[?after_step=S] History: progress with step > S, every evaluation
//   /api/v1/jobs/ID/log[?offset=B|?tail=B] {"data": text, "next_offset": N, "job_finished": bool}:
//                                         the log from byte B, or its last B bytes (at most
//                                         1 MiB per answer; next_offset continues it)
//   /api/v1/serving                       ServingStatus: deployments (policy, desired,
//                                         workers, queue, answers) and workers
//   /api/v1/serving/history[?since=T]     {"now": T, "models": {NAME: [sample...]}}, samples
//                                         newer than unix time T (serving_history.h)
//   /api/v1/cluster                       ClusterStatus: launchers' slots and use, Slurm nodes
//
// Jobs, serving status and the cluster come from the coordinator's control
// requests through one function (a ControlClient in production, a fake in
// tests); the serving samples from a ServingHistory (null: serving is off,
// and the answer has no models). Query values that are not what a route
// takes are InvalidArgument naming the parameter. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "common/proto/job.pb.h"
#include "common/util/status.h"
#include "coordinator/serving/serving_history.h"

namespace chorus::coordinator {

class DashboardApi {
 public:
  using Control = std::function<Result<proto::Reply>(const proto::Request&)>;
  using Query = std::map<std::string, std::string>;

  DashboardApi(Control control, const ServingHistory* history, std::function<double()> now)
      : control_(std::move(control)), history_(history), now_(std::move(now)) {}

  // `path` without the query ("/api/v1/jobs/3/log"); NotFound for any other.
  Result<std::string> Get(const std::string& path, const Query& query) const;

 private:
  Result<std::string> Jobs(const Query& query) const;
  Result<std::string> Job(int64_t id) const;
  Result<std::string> History(int64_t id, const Query& query) const;
  Result<std::string> Log(int64_t id, const Query& query) const;
  Result<std::string> Serving() const;
  Result<std::string> ServingSamples(const Query& query) const;
  Result<std::string> Cluster() const;

  Control control_;
  const ServingHistory* history_;
  std::function<double()> now_;
};

// A message as JSON text (proto field names, default values printed).
std::string ProtoJson(const google::protobuf::Message& message);

}  // namespace chorus::coordinator
