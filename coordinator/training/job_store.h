// JobStore: the coordinator's durable memory. Each call is one transaction
// that is durable when it returns, so the coordinator writes a change
// *before* acting on it and a coordinator killed at any moment loses nothing.
// Atomically() groups calls.
//
// Two backends behind this one interface, chosen by Open's location:
//  - SQLite (a file path; the embedded default for one coordinator):
//    sqlite_job_store.h.
//  - PostgreSQL (a postgresql:// or postgres:// URI): postgres_job_store.h;
//    the store two coordinators share, one active and one standby
//    (leader_lease.h elects the active through the same server).
//
// What is kept: jobs (state, priority, launcher and times as columns for
// queries and for people with a SQL shell; the whole proto::Job as a blob;
// the job file's text), attempts (one row per launch), metrics (every
// progress and evaluation report: the metrics history), deployments (served
// models and their scaling policies), credentials (issued tokens: role, and
// the SHA-256 of the secret, never the secret), and the client request ids
// of submits (a retried submit is not queued twice).
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

namespace chorus::coordinator {

class JobStore {
 public:
  // A PostgreSQL URI opens the PostgreSQL backend, anything else is a SQLite
  // file. Creates the schema if needed. An unreachable server, corruption or
  // a locked database is an error naming the location (without password).
  static Result<std::unique_ptr<JobStore>> Open(const std::string& location);
  virtual ~JobStore() = default;

  // Inserts a new job; returns its id (also set in *job). A non-empty
  // `request_id` is remembered with it (see JobForRequest).
  virtual Result<int64_t> CreateJob(proto::Job* job, const std::string& spec_yaml,
                                    const std::string& request_id = "") = 0;
  // The job a submit with this client request id created; 0 if none.
  virtual Result<int64_t> JobForRequest(const std::string& request_id) = 0;
  // Overwrites the job row (history fields of `job` are not stored here).
  virtual Status SaveJob(const proto::Job& job) = 0;
  // NotFound for an unknown id. With `history`: attempts, evaluations.
  virtual Result<proto::Job> LoadJob(int64_t id, bool history = false) = 0;
  // Newest first. `active_only`: PENDING and RUNNING. limit <= 0: all.
  virtual Result<std::vector<proto::Job>> ListJobs(bool active_only, int limit) = 0;
  virtual Result<std::string> JobSpec(int64_t id) = 0;

  virtual Status SaveAttempt(int64_t job_id, const proto::Attempt& attempt) = 0;  // insert or replace
  virtual Result<std::vector<proto::Attempt>> Attempts(int64_t job_id) = 0;

  virtual Status AppendProgress(int64_t job_id, const proto::Progress& progress) = 0;
  virtual Status AppendEvaluation(int64_t job_id, const proto::Evaluation& evaluation) = 0;
  virtual Result<std::vector<proto::Progress>> ProgressHistory(int64_t job_id) = 0;

  virtual Status SaveDeployment(const proto::Deployment& deployment) = 0;  // insert or replace, by name
  virtual Status DeleteDeployment(const std::string& name) = 0;
  virtual Result<std::vector<proto::Deployment>> Deployments() = 0;

  virtual Status SaveCredential(const proto::Credential& credential) = 0;  // insert or replace, by id
  virtual Result<std::vector<proto::Credential>> Credentials() = 0;

  // Runs `body` in one transaction: committed if it returns OK, rolled back
  // otherwise. Nested calls join the outer transaction.
  virtual Status Atomically(const std::function<Status()>& body) = 0;

  // Where it lives, for messages (a PostgreSQL URI without its password).
  virtual const std::string& location() const = 0;
};

// The job blob as stored: the proto::Job without its history fields (those
// live in their own tables).
std::string StoredJobBlob(const proto::Job& job);

}  // namespace chorus::coordinator
