#include "coordinator/training/postgres_job_store.h"

#include <regex>

#include <pqxx/pqxx>

namespace chorus::coordinator {

std::string RedactedUri(const std::string& uri) {
  // user:secret@ in the authority, password=secret in the query.
  static const std::regex authority(R"(^([a-z]+://[^/:@]*):[^/@]*@)");
  static const std::regex query(R"(([?&]password=)[^&]*)");
  return std::regex_replace(std::regex_replace(uri, authority, "$1:***@"), query, "$1***");
}

struct PostgresJobStore::Db {
  std::unique_ptr<pqxx::connection> connection;
  std::unique_ptr<pqxx::work> transaction;
};

namespace {

// Serializes the creation of the schema between coordinators starting at once.
constexpr int64_t kSchemaLockKey = 0x63686f7275730002;  // "chorus" 2

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id BIGSERIAL PRIMARY KEY,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  priority BIGINT NOT NULL,
  launcher TEXT NOT NULL,
  submitted_at DOUBLE PRECISION NOT NULL,
  finished_at DOUBLE PRECISION NOT NULL,
  spec_yaml TEXT NOT NULL,
  job BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, priority);
CREATE TABLE IF NOT EXISTS attempts(
  job_id BIGINT NOT NULL,
  number BIGINT NOT NULL,
  state TEXT NOT NULL,
  attempt BYTEA NOT NULL,
  PRIMARY KEY(job_id, number));
CREATE TABLE IF NOT EXISTS metrics(
  seq BIGSERIAL PRIMARY KEY,
  job_id BIGINT NOT NULL,
  kind TEXT NOT NULL,
  step BIGINT NOT NULL,
  time DOUBLE PRECISION NOT NULL,
  value BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_job ON metrics(job_id, kind);
CREATE TABLE IF NOT EXISTS submit_ids(
  request_id TEXT PRIMARY KEY,
  job_id BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS deployments(
  name TEXT PRIMARY KEY,
  deployment BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS credentials(
  seq BIGSERIAL,
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  revoked BIGINT NOT NULL,
  credential BYTEA NOT NULL);
)sql";

pqxx::binarystring Bytes(const std::string& s) { return pqxx::binarystring(s); }

template <typename Message>
Result<std::vector<Message>> ParseRows(const pqxx::result& rows, const char* what) {
  std::vector<Message> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    Message m;
    if (!m.ParseFromString(pqxx::binarystring(row[0]).str()))
      return Corruption(std::string("job store: unreadable ") + what + " record");
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

PostgresJobStore::PostgresJobStore(std::string uri)
    : uri_(std::move(uri)), location_(RedactedUri(uri_)), db_(std::make_unique<Db>()) {}

PostgresJobStore::~PostgresJobStore() = default;

Status PostgresJobStore::Connect() {
  try {
    db_->connection = std::make_unique<pqxx::connection>(uri_);
    return Status::Ok();
  } catch (const std::exception& e) {
    db_->connection.reset();
    return IoError(location_ + ": cannot connect to the job store: " + e.what());
  }
}

Result<std::unique_ptr<JobStore>> PostgresJobStore::Open(const std::string& uri) {
  std::unique_ptr<PostgresJobStore> store(new PostgresJobStore(uri));
  RETURN_IF_ERROR(store->Connect());
  RETURN_IF_ERROR(store->Atomically([&]() -> Status {
    RETURN_IF_ERROR(store->Exec("SELECT pg_advisory_xact_lock($1)", kSchemaLockKey).status());
    return store->Exec(kSchema).status();
  }));
  return std::unique_ptr<JobStore>(std::move(store));
}

namespace {
// Without parameters `sql` may hold several statements (the schema).
template <typename... Args>
pqxx::result Run(pqxx::work& work, const char* sql, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) return work.exec(sql);
  else return work.exec_params(sql, std::forward<Args>(args)...);
}
}  // namespace

template <typename... Args>
Result<pqxx::result> PostgresJobStore::Exec(const char* sql, Args&&... args) {
  try {
    if (db_->transaction) return Run(*db_->transaction, sql, std::forward<Args>(args)...);
    if (!db_->connection || !db_->connection->is_open()) RETURN_IF_ERROR(Connect());
    pqxx::work work(*db_->connection);
    pqxx::result rows = Run(work, sql, std::forward<Args>(args)...);
    work.commit();
    return rows;
  } catch (const pqxx::broken_connection& e) {
    if (!db_->transaction) db_->connection.reset();  // re-opened by the next call
    return IoError("job store " + location_ + ": connection lost: " + e.what());
  } catch (const std::exception& e) {
    return IoError("job store " + location_ + ": " + e.what());
  }
}

Status PostgresJobStore::Atomically(const std::function<Status()>& body) {
  if (db_->transaction) return body();  // already inside one
  try {
    if (!db_->connection || !db_->connection->is_open()) RETURN_IF_ERROR(Connect());
    db_->transaction = std::make_unique<pqxx::work>(*db_->connection);
  } catch (const std::exception& e) {
    db_->connection.reset();
    return IoError("job store " + location_ + ": cannot begin a transaction: " + e.what());
  }
  Status s = body();
  try {
    if (s.ok()) db_->transaction->commit();
    else db_->transaction->abort();
  } catch (const std::exception& e) {
    if (s.ok()) s = IoError("job store " + location_ + ": commit failed: " + e.what());
  }
  db_->transaction.reset();
  return s;
}

Result<int64_t> PostgresJobStore::JobForRequest(const std::string& request_id) {
  ASSIGN_OR_RETURN(pqxx::result rows, Exec("SELECT job_id FROM submit_ids WHERE request_id=$1", request_id));
  if (rows.empty()) return int64_t{0};
  return rows[0][0].as<int64_t>();
}

Result<int64_t> PostgresJobStore::CreateJob(proto::Job* job, const std::string& spec_yaml,
                                            const std::string& request_id) {
  int64_t id = 0;
  RETURN_IF_ERROR(Atomically([&]() -> Status {
    ASSIGN_OR_RETURN(pqxx::result rows,
                     Exec("INSERT INTO jobs(name,state,priority,launcher,submitted_at,finished_at,spec_yaml,job) "
                          "VALUES($1,$2,$3,$4,$5,$6,$7,''::bytea) RETURNING id",
                          job->name(), std::string(JobStateName(job->state())), static_cast<int64_t>(job->priority()),
                          job->launcher(), job->submitted_at(), job->finished_at(), spec_yaml));
    id = rows[0][0].as<int64_t>();
    job->set_id(id);
    if (!request_id.empty())
      RETURN_IF_ERROR(Exec("INSERT INTO submit_ids(request_id, job_id) VALUES($1,$2)", request_id, id).status());
    return SaveJob(*job);
  }));
  return id;
}

Status PostgresJobStore::SaveJob(const proto::Job& job) {
  ASSIGN_OR_RETURN(pqxx::result rows,
                   Exec("UPDATE jobs SET name=$1, state=$2, priority=$3, launcher=$4, finished_at=$5, job=$6 WHERE id=$7",
                        job.name(), std::string(JobStateName(job.state())), static_cast<int64_t>(job.priority()),
                        job.launcher(), job.finished_at(), Bytes(StoredJobBlob(job)), job.id()));
  if (rows.affected_rows() != 1) return NotFound("job " + std::to_string(job.id()) + " does not exist");
  return Status::Ok();
}

Result<proto::Job> PostgresJobStore::LoadJob(int64_t id, bool history) {
  ASSIGN_OR_RETURN(pqxx::result rows, Exec("SELECT job FROM jobs WHERE id=$1", id));
  if (rows.empty()) return NotFound("no job with id " + std::to_string(id));
  ASSIGN_OR_RETURN(std::vector<proto::Job> jobs, ParseRows<proto::Job>(rows, "job"));
  proto::Job job = std::move(jobs.front());
  if (history) {
    ASSIGN_OR_RETURN(std::vector<proto::Attempt> attempts, Attempts(id));
    for (auto& a : attempts) *job.add_attempt_history() = std::move(a);
    ASSIGN_OR_RETURN(pqxx::result evaluations,
                     Exec("SELECT value FROM metrics WHERE job_id=$1 AND kind='evaluation' ORDER BY seq", id));
    ASSIGN_OR_RETURN(std::vector<proto::Evaluation> parsed, ParseRows<proto::Evaluation>(evaluations, "evaluation"));
    for (auto& e : parsed) *job.add_evaluations() = std::move(e);
  }
  return job;
}

Result<std::vector<proto::Job>> PostgresJobStore::ListJobs(bool active_only, int limit) {
  std::string sql = "SELECT job FROM jobs";
  if (active_only) sql += " WHERE state IN ('PENDING','RUNNING')";
  sql += " ORDER BY id DESC";
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  ASSIGN_OR_RETURN(pqxx::result rows, Exec(sql.c_str()));
  return ParseRows<proto::Job>(rows, "job");
}

Result<std::string> PostgresJobStore::JobSpec(int64_t id) {
  ASSIGN_OR_RETURN(pqxx::result rows, Exec("SELECT spec_yaml FROM jobs WHERE id=$1", id));
  if (rows.empty()) return NotFound("no job with id " + std::to_string(id));
  return rows[0][0].as<std::string>();
}

Status PostgresJobStore::SaveAttempt(int64_t job_id, const proto::Attempt& attempt) {
  return Exec("INSERT INTO attempts(job_id,number,state,attempt) VALUES($1,$2,$3,$4) "
              "ON CONFLICT (job_id, number) DO UPDATE SET state=EXCLUDED.state, attempt=EXCLUDED.attempt",
              job_id, static_cast<int64_t>(attempt.number()), attempt.state(), Bytes(attempt.SerializeAsString()))
      .status();
}

Result<std::vector<proto::Attempt>> PostgresJobStore::Attempts(int64_t job_id) {
  ASSIGN_OR_RETURN(pqxx::result rows, Exec("SELECT attempt FROM attempts WHERE job_id=$1 ORDER BY number", job_id));
  return ParseRows<proto::Attempt>(rows, "attempt");
}

Status PostgresJobStore::AppendProgress(int64_t job_id, const proto::Progress& p) {
  return Exec("INSERT INTO metrics(job_id,kind,step,time,value) VALUES($1,'progress',$2,$3,$4)", job_id,
              static_cast<int64_t>(p.step()), p.time(), Bytes(p.SerializeAsString()))
      .status();
}

Status PostgresJobStore::AppendEvaluation(int64_t job_id, const proto::Evaluation& e) {
  return Exec("INSERT INTO metrics(job_id,kind,step,time,value) VALUES($1,'evaluation',$2,$3,$4)", job_id,
              static_cast<int64_t>(e.step()), e.time(), Bytes(e.SerializeAsString()))
      .status();
}

Result<std::vector<proto::Progress>> PostgresJobStore::ProgressHistory(int64_t job_id) {
  ASSIGN_OR_RETURN(pqxx::result rows,
                   Exec("SELECT value FROM metrics WHERE job_id=$1 AND kind='progress' ORDER BY seq", job_id));
  return ParseRows<proto::Progress>(rows, "progress");
}

Status PostgresJobStore::SaveDeployment(const proto::Deployment& d) {
  return Exec("INSERT INTO deployments(name, deployment) VALUES($1,$2) "
              "ON CONFLICT (name) DO UPDATE SET deployment=EXCLUDED.deployment",
              d.name(), Bytes(d.SerializeAsString()))
      .status();
}

Status PostgresJobStore::DeleteDeployment(const std::string& name) {
  return Exec("DELETE FROM deployments WHERE name=$1", name).status();
}

Result<std::vector<proto::Deployment>> PostgresJobStore::Deployments() {
  ASSIGN_OR_RETURN(pqxx::result rows, Exec("SELECT deployment FROM deployments ORDER BY name"));
  return ParseRows<proto::Deployment>(rows, "deployment");
}

Status PostgresJobStore::SaveCredential(const proto::Credential& c) {
  return Exec("INSERT INTO credentials(id, role, revoked, credential) VALUES($1,$2,$3,$4) "
              "ON CONFLICT (id) DO UPDATE SET role=EXCLUDED.role, revoked=EXCLUDED.revoked, "
              "credential=EXCLUDED.credential",
              c.id(), c.role(), static_cast<int64_t>(c.revoked()), Bytes(c.SerializeAsString()))
      .status();
}

Result<std::vector<proto::Credential>> PostgresJobStore::Credentials() {
  ASSIGN_OR_RETURN(pqxx::result rows, Exec("SELECT credential FROM credentials ORDER BY seq"));
  return ParseRows<proto::Credential>(rows, "credential");
}

}  // namespace chorus::coordinator
