// JobStore: the coordinator's durable memory, one SQLite database in WAL mode
// with synchronous=FULL. Each call is one transaction that is on disk when it
// returns, so the coordinator writes a change *before* acting on it and a
// coordinator killed at any moment loses nothing. Atomically() groups calls.
//
// Tables: jobs (state, priority, launcher and times as columns for queries
// and for people with the sqlite3 shell; the whole proto::Job as a blob; the
// job file's text), attempts (one row per launch), metrics (every progress
// and evaluation report: the metrics history), deployments (served models
// and their scaling policies), credentials (issued tokens: role, and the
// SHA-256 of the secret, never the secret).
//
// Not thread-safe: the coordinator owns it from one thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/proto/job.pb.h"
#include "common/util/status.h"
#include "coordinator/client/job_state.h"

struct sqlite3;

namespace chorus::coordinator {

class JobStore {
 public:
  // Creates the file and schema if needed. Corruption or a locked database
  // is an error naming the file.
  static Result<std::unique_ptr<JobStore>> Open(const std::string& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Inserts a new job; returns its id (also set in *job). A non-empty
  // `request_id` is remembered with it (see JobForRequest).
  Result<int64_t> CreateJob(proto::Job* job, const std::string& spec_yaml, const std::string& request_id = "");
  // The job a submit with this client request id created; 0 if none.
  Result<int64_t> JobForRequest(const std::string& request_id);
  // Overwrites the job row (history fields of `job` are not stored here).
  Status SaveJob(const proto::Job& job);
  // NotFound for an unknown id. With `history`: attempts, evaluations.
  Result<proto::Job> LoadJob(int64_t id, bool history = false);
  // Newest first. `active_only`: PENDING and RUNNING. limit <= 0: all.
  Result<std::vector<proto::Job>> ListJobs(bool active_only, int limit);
  Result<std::string> JobSpec(int64_t id);

  Status SaveAttempt(int64_t job_id, const proto::Attempt& attempt);  // insert or replace
  Result<std::vector<proto::Attempt>> Attempts(int64_t job_id);

  Status AppendProgress(int64_t job_id, const proto::Progress& progress);
  Status AppendEvaluation(int64_t job_id, const proto::Evaluation& evaluation);
  Result<std::vector<proto::Progress>> ProgressHistory(int64_t job_id);

  Status SaveDeployment(const proto::Deployment& deployment);  // insert or replace, by name
  Status DeleteDeployment(const std::string& name);
  Result<std::vector<proto::Deployment>> Deployments();

  Status SaveCredential(const proto::Credential& credential);  // insert or replace, by id
  Result<std::vector<proto::Credential>> Credentials();

  // Runs `body` in one transaction: committed if it returns OK, rolled back otherwise.
  Status Atomically(const std::function<Status()>& body);

  const std::string& path() const { return path_; }

 private:
  JobStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const std::string& sql);

  sqlite3* db_;
  std::string path_;
  int transaction_depth_ = 0;
};

}  // namespace chorus::coordinator
