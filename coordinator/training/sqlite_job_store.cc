#include "coordinator/training/sqlite_job_store.h"

#include <sqlite3.h>

#include "coordinator/training/sqlite_statement.h"

namespace chorus::coordinator {

namespace {

template <typename Message>
Result<Message> ParseBlob(const std::string& blob, const char* what) {
  Message m;
  if (!m.ParseFromString(blob)) return Corruption(std::string("job store: unreadable ") + what + " record");
  return m;
}

// Every row's first column parsed as a Message: `sql` selects one blob and
// takes one id parameter.
template <typename Message>
Result<std::vector<Message>> SelectBlobs(sqlite3* db, const char* sql, int64_t id, const char* what) {
  Statement select(db, sql);
  RETURN_IF_ERROR(select.prepared());
  if (id >= 0) select.Bind(1, id);
  std::vector<Message> out;
  int rc;
  while ((rc = select.Step()) == SQLITE_ROW) {
    ASSIGN_OR_RETURN(Message m, ParseBlob<Message>(select.Blob(0), what));
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return select.Error("read");
  return out;
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  priority INTEGER NOT NULL,
  launcher TEXT NOT NULL,
  submitted_at REAL NOT NULL,
  finished_at REAL NOT NULL,
  spec_yaml TEXT NOT NULL,
  job BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, priority);
CREATE TABLE IF NOT EXISTS attempts(
  job_id INTEGER NOT NULL,
  number INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempt BLOB NOT NULL,
  PRIMARY KEY(job_id, number));
CREATE TABLE IF NOT EXISTS metrics(
  job_id INTEGER NOT NULL,
  kind TEXT NOT NULL,
  step INTEGER NOT NULL,
  time REAL NOT NULL,
  value BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_job ON metrics(job_id, kind);
CREATE TABLE IF NOT EXISTS submit_ids(
  request_id TEXT PRIMARY KEY,
  job_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deployments(
  name TEXT PRIMARY KEY,
  deployment BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS credentials(
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  revoked INTEGER NOT NULL,
  credential BLOB NOT NULL);
)sql";

}  // namespace

Result<std::unique_ptr<JobStore>> SqliteJobStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return IoError(path + ": cannot open job store: " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<SqliteJobStore> store(new SqliteJobStore(db, path));
  for (const char* pragma : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;", "PRAGMA foreign_keys=ON;"})
    RETURN_IF_ERROR(store->Exec(pragma).WithContext(path));
  RETURN_IF_ERROR(store->Exec(kSchema).WithContext(path));
  RETURN_IF_ERROR(store->Exec("PRAGMA quick_check;").WithContext(path));
  return std::unique_ptr<JobStore>(std::move(store));
}

SqliteJobStore::~SqliteJobStore() { sqlite3_close(db_); }

Status SqliteJobStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    return IoError("job store: " + msg);
  }
  return Status::Ok();
}

Status SqliteJobStore::Atomically(const std::function<Status()>& body) {
  if (transaction_depth_ > 0) return body();  // already inside one
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE;"));
  ++transaction_depth_;
  Status s = body();
  --transaction_depth_;
  if (!s.ok()) {
    (void)Exec("ROLLBACK;");
    return s;
  }
  return Exec("COMMIT;");
}

Result<int64_t> SqliteJobStore::JobForRequest(const std::string& request_id) {
  Statement select(db_, "SELECT job_id FROM submit_ids WHERE request_id=?");
  RETURN_IF_ERROR(select.prepared());
  select.Bind(1, request_id);
  const int rc = select.Step();
  if (rc == SQLITE_ROW) return select.Int(0);
  if (rc != SQLITE_DONE) return select.Error("read");
  return int64_t{0};
}

Result<int64_t> SqliteJobStore::CreateJob(proto::Job* job, const std::string& spec_yaml, const std::string& request_id) {
  int64_t id = 0;
  RETURN_IF_ERROR(Atomically([&]() -> Status {
    Statement insert(db_,
                     "INSERT INTO jobs(name,state,priority,launcher,submitted_at,finished_at,spec_yaml,job) "
                     "VALUES(?,?,?,?,?,?,?,x'')");
    RETURN_IF_ERROR(insert.prepared());
    insert.Bind(1, job->name());
    insert.Bind(2, std::string(JobStateName(job->state())));
    insert.Bind(3, static_cast<int64_t>(job->priority()));
    insert.Bind(4, job->launcher());
    insert.Bind(5, job->submitted_at());
    insert.Bind(6, job->finished_at());
    insert.Bind(7, spec_yaml);
    RETURN_IF_ERROR(insert.Run());
    id = sqlite3_last_insert_rowid(db_);
    job->set_id(id);
    if (!request_id.empty()) {
      Statement remember(db_, "INSERT INTO submit_ids(request_id, job_id) VALUES(?,?)");
      RETURN_IF_ERROR(remember.prepared());
      remember.Bind(1, request_id);
      remember.Bind(2, id);
      RETURN_IF_ERROR(remember.Run());
    }
    return SaveJob(*job);
  }));
  return id;
}

Status SqliteJobStore::SaveJob(const proto::Job& job) {
  Statement update(db_, "UPDATE jobs SET name=?, state=?, priority=?, launcher=?, finished_at=?, job=? WHERE id=?");
  RETURN_IF_ERROR(update.prepared());
  update.Bind(1, job.name());
  update.Bind(2, std::string(JobStateName(job.state())));
  update.Bind(3, static_cast<int64_t>(job.priority()));
  update.Bind(4, job.launcher());
  update.Bind(5, job.finished_at());
  update.BindBlob(6, StoredJobBlob(job));
  update.Bind(7, job.id());
  RETURN_IF_ERROR(update.Run());
  if (sqlite3_changes(db_) != 1) return NotFound("job " + std::to_string(job.id()) + " does not exist");
  return Status::Ok();
}

Result<proto::Job> SqliteJobStore::LoadJob(int64_t id, bool history) {
  Statement select(db_, "SELECT job FROM jobs WHERE id=?");
  RETURN_IF_ERROR(select.prepared());
  select.Bind(1, id);
  int rc = select.Step();
  if (rc == SQLITE_DONE) return NotFound("no job with id " + std::to_string(id));
  if (rc != SQLITE_ROW) return select.Error("read");
  ASSIGN_OR_RETURN(proto::Job job, ParseBlob<proto::Job>(select.Blob(0), "job"));
  if (history) {
    ASSIGN_OR_RETURN(std::vector<proto::Attempt> attempts, Attempts(id));
    for (auto& a : attempts) *job.add_attempt_history() = std::move(a);
    ASSIGN_OR_RETURN(std::vector<proto::Evaluation> evaluations,
                     SelectBlobs<proto::Evaluation>(
                         db_, "SELECT value FROM metrics WHERE job_id=? AND kind='evaluation' ORDER BY rowid", id,
                         "evaluation"));
    for (auto& e : evaluations) *job.add_evaluations() = std::move(e);
  }
  return job;
}

Result<std::vector<proto::Job>> SqliteJobStore::ListJobs(bool active_only, int limit) {
  std::string sql = "SELECT job FROM jobs";
  if (active_only) sql += " WHERE state IN ('PENDING','RUNNING')";
  sql += " ORDER BY id DESC";
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  return SelectBlobs<proto::Job>(db_, sql.c_str(), -1, "job");
}

Result<std::string> SqliteJobStore::JobSpec(int64_t id) {
  Statement select(db_, "SELECT spec_yaml FROM jobs WHERE id=?");
  RETURN_IF_ERROR(select.prepared());
  select.Bind(1, id);
  int rc = select.Step();
  if (rc == SQLITE_DONE) return NotFound("no job with id " + std::to_string(id));
  if (rc != SQLITE_ROW) return select.Error("read");
  return select.Blob(0);
}

Status SqliteJobStore::SaveAttempt(int64_t job_id, const proto::Attempt& attempt) {
  Statement upsert(db_, "INSERT OR REPLACE INTO attempts(job_id,number,state,attempt) VALUES(?,?,?,?)");
  RETURN_IF_ERROR(upsert.prepared());
  upsert.Bind(1, job_id);
  upsert.Bind(2, static_cast<int64_t>(attempt.number()));
  upsert.Bind(3, attempt.state());
  upsert.BindBlob(4, attempt.SerializeAsString());
  return upsert.Run();
}

Result<std::vector<proto::Attempt>> SqliteJobStore::Attempts(int64_t job_id) {
  return SelectBlobs<proto::Attempt>(db_, "SELECT attempt FROM attempts WHERE job_id=? ORDER BY number", job_id,
                                     "attempt");
}

namespace {
Status AppendMetric(sqlite3* db, int64_t job_id, const char* kind, int64_t step, double time, const std::string& blob) {
  Statement insert(db, "INSERT INTO metrics(job_id,kind,step,time,value) VALUES(?,?,?,?,?)");
  RETURN_IF_ERROR(insert.prepared());
  insert.Bind(1, job_id);
  insert.Bind(2, std::string(kind));
  insert.Bind(3, step);
  insert.Bind(4, time);
  insert.BindBlob(5, blob);
  return insert.Run();
}
}  // namespace

Status SqliteJobStore::AppendProgress(int64_t job_id, const proto::Progress& p) {
  return AppendMetric(db_, job_id, "progress", p.step(), p.time(), p.SerializeAsString());
}

Status SqliteJobStore::AppendEvaluation(int64_t job_id, const proto::Evaluation& e) {
  return AppendMetric(db_, job_id, "evaluation", e.step(), e.time(), e.SerializeAsString());
}

Result<std::vector<proto::Progress>> SqliteJobStore::ProgressHistory(int64_t job_id) {
  return SelectBlobs<proto::Progress>(
      db_, "SELECT value FROM metrics WHERE job_id=? AND kind='progress' ORDER BY rowid", job_id, "progress");
}

Status SqliteJobStore::SaveDeployment(const proto::Deployment& d) {
  Statement upsert(db_, "INSERT OR REPLACE INTO deployments(name, deployment) VALUES(?,?)");
  RETURN_IF_ERROR(upsert.prepared());
  upsert.Bind(1, d.name());
  upsert.BindBlob(2, d.SerializeAsString());
  return upsert.Run();
}

Status SqliteJobStore::DeleteDeployment(const std::string& name) {
  Statement del(db_, "DELETE FROM deployments WHERE name=?");
  RETURN_IF_ERROR(del.prepared());
  del.Bind(1, name);
  return del.Run();
}

Result<std::vector<proto::Deployment>> SqliteJobStore::Deployments() {
  return SelectBlobs<proto::Deployment>(db_, "SELECT deployment FROM deployments ORDER BY name", -1, "deployment");
}

Status SqliteJobStore::SaveCredential(const proto::Credential& c) {
  Statement upsert(db_, "INSERT OR REPLACE INTO credentials(id, role, revoked, credential) VALUES(?,?,?,?)");
  RETURN_IF_ERROR(upsert.prepared());
  upsert.Bind(1, c.id());
  upsert.Bind(2, c.role());
  upsert.Bind(3, static_cast<int64_t>(c.revoked()));
  upsert.BindBlob(4, c.SerializeAsString());
  return upsert.Run();
}

Result<std::vector<proto::Credential>> SqliteJobStore::Credentials() {
  return SelectBlobs<proto::Credential>(db_, "SELECT credential FROM credentials ORDER BY rowid", -1, "credential");
}

}  // namespace chorus::coordinator
