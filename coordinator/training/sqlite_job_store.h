// SqliteJobStore: the JobStore (job_store.h) in one SQLite file, in WAL mode
// with synchronous=FULL: each call's transaction is on disk when it returns.
// The embedded default for a coordinator without a standby; SQLite over a
// network file system is no way to share it between two coordinators (use
// the PostgreSQL backend for that).
// Not thread-safe: the coordinator owns it from one thread.
#pragma once

#include "coordinator/training/job_store.h"

struct sqlite3;

namespace chorus::coordinator {

class SqliteJobStore final : public JobStore {
 public:
  // Creates the file and schema if needed. Corruption or a locked database
  // is an error naming the file.
  static Result<std::unique_ptr<JobStore>> Open(const std::string& path);
  ~SqliteJobStore() override;
  SqliteJobStore(const SqliteJobStore&) = delete;
  SqliteJobStore& operator=(const SqliteJobStore&) = delete;

  Result<int64_t> CreateJob(proto::Job* job, const std::string& spec_yaml, const std::string& request_id) override;
  Result<int64_t> JobForRequest(const std::string& request_id) override;
  Status SaveJob(const proto::Job& job) override;
  Result<proto::Job> LoadJob(int64_t id, bool history) override;
  Result<std::vector<proto::Job>> ListJobs(bool active_only, int limit) override;
  Result<std::string> JobSpec(int64_t id) override;
  Status SaveAttempt(int64_t job_id, const proto::Attempt& attempt) override;
  Result<std::vector<proto::Attempt>> Attempts(int64_t job_id) override;
  Status AppendProgress(int64_t job_id, const proto::Progress& progress) override;
  Status AppendEvaluation(int64_t job_id, const proto::Evaluation& evaluation) override;
  Result<std::vector<proto::Progress>> ProgressHistory(int64_t job_id) override;
  Status SaveDeployment(const proto::Deployment& deployment) override;
  Status DeleteDeployment(const std::string& name) override;
  Result<std::vector<proto::Deployment>> Deployments() override;
  Status SaveCredential(const proto::Credential& credential) override;
  Result<std::vector<proto::Credential>> Credentials() override;
  Status Atomically(const std::function<Status()>& body) override;
  const std::string& location() const override { return path_; }

 private:
  SqliteJobStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Exec(const std::string& sql);

  sqlite3* db_;
  std::string path_;
  int transaction_depth_ = 0;
};

}  // namespace chorus::coordinator
