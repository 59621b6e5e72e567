#include "coordinator/training/job_store.h"

#include "coordinator/client/store_location.h"
#include "coordinator/training/postgres_job_store.h"
#include "coordinator/training/sqlite_job_store.h"

namespace chorus::coordinator {

Result<std::unique_ptr<JobStore>> JobStore::Open(const std::string& location) {
  if (IsPostgresUri(location)) return PostgresJobStore::Open(location);
  return SqliteJobStore::Open(location);
}

std::string StoredJobBlob(const proto::Job& job) {
  proto::Job copy = job;
  copy.clear_evaluations();
  copy.clear_attempt_history();
  return copy.SerializeAsString();
}

}  // namespace chorus::coordinator
