// PostgresJobStore: the JobStore (job_store.h) on a PostgreSQL server
// (libpqxx), the store two coordinators share as an active/standby pair.
// Same tables as the SQLite backend (bytea for the protobuf blobs); each call
// is one transaction committed (synchronous_commit as the server sets it,
// on by default) before it returns. The schema is created under a
// transaction-scoped advisory lock, so two coordinators starting at once do
// not race. A broken connection is an IoError and is re-opened on the next
// call.
// Not thread-safe: the coordinator owns it from one thread.
#pragma once

#include <memory>

#include "coordinator/training/job_store.h"

namespace pqxx {
class result;
}  // namespace pqxx

namespace chorus::coordinator {

// `uri` without its password (for messages and logs).
std::string RedactedUri(const std::string& uri);

class PostgresJobStore final : public JobStore {
 public:
  static Result<std::unique_ptr<JobStore>> Open(const std::string& uri);
  ~PostgresJobStore() override;

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
  const std::string& location() const override { return location_; }

 private:
  explicit PostgresJobStore(std::string uri);
  Status Connect();
  // Runs `sql` with `args` in the open Atomically transaction, or in one of
  // its own; errors name the store. Defined (and used) in the .cc only.
  template <typename... Args>
  Result<pqxx::result> Exec(const char* sql, Args&&... args);

  struct Db;  // the connection, and the transaction while Atomically runs
  std::string uri_, location_;
  std::unique_ptr<Db> db_;
};

}  // namespace chorus::coordinator
