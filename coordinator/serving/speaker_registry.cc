#include "coordinator/serving/speaker_registry.h"

#include <sqlite3.h>

#include <chrono>
#include <cstring>

#include "coordinator/names.h"
#include "coordinator/training/sqlite_statement.h"

namespace chorus::coordinator {
namespace {

constexpr const char* kWhat = "speaker registry";

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS speakers(
  deployment TEXT NOT NULL,
  name TEXT NOT NULL,
  utterances INTEGER NOT NULL,
  enrolled_at REAL NOT NULL,
  embedding BLOB NOT NULL,
  PRIMARY KEY(deployment, name));
)sql";

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

Status ValidateSpeakerName(const std::string& name) { return ValidateName("speaker", name); }

Result<std::unique_ptr<SpeakerRegistry>> SpeakerRegistry::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return IoError(path + ": cannot open the speaker registry: " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<SpeakerRegistry> r(new SpeakerRegistry(db, path));
  for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=FULL;", "PRAGMA secure_delete=ON;", kSchema})
    RETURN_IF_ERROR(r->Exec(sql).WithContext(path));
  return r;
}

SpeakerRegistry::~SpeakerRegistry() { sqlite3_close(db_); }

Status SpeakerRegistry::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return IoError(std::string(kWhat) + ": " + msg);
  }
  return Status::Ok();
}

Status SpeakerRegistry::Enrol(const std::string& deployment, const EnrolledSpeaker& s) {
  RETURN_IF_ERROR(ValidateSpeakerName(s.name));
  if (s.embedding.empty()) return InvalidArgument("enrolment of '" + s.name + "' has no embedding");
  std::lock_guard<std::mutex> lock(mu_);
  Statement upsert(db_,
                   "INSERT OR REPLACE INTO speakers(deployment, name, utterances, enrolled_at, embedding) "
                   "VALUES(?,?,?,?,?)",
                   kWhat);
  RETURN_IF_ERROR(upsert.prepared());
  upsert.Bind(1, deployment);
  upsert.Bind(2, s.name);
  upsert.Bind(3, s.utterances);
  upsert.Bind(4, Now());
  upsert.BindBlob(5, std::string(reinterpret_cast<const char*>(s.embedding.data()), s.embedding.size() * sizeof(float)));
  return upsert.Run();
}

Result<std::vector<EnrolledSpeaker>> SpeakerRegistry::Select(const std::string& deployment, const std::string& name,
                                                             bool embeddings) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement select(db_,
                   name.empty() ? "SELECT name, utterances, enrolled_at, embedding FROM speakers WHERE deployment=? "
                                  "ORDER BY name"
                                : "SELECT name, utterances, enrolled_at, embedding FROM speakers WHERE deployment=? "
                                  "AND name=?",
                   kWhat);
  RETURN_IF_ERROR(select.prepared());
  select.Bind(1, deployment);
  if (!name.empty()) select.Bind(2, name);
  std::vector<EnrolledSpeaker> out;
  int rc;
  while ((rc = select.Step()) == SQLITE_ROW) {
    EnrolledSpeaker s;
    s.name = select.Text(0);
    s.utterances = select.Int(1);
    s.enrolled_at = select.Real(2);
    if (embeddings) {
      const std::string blob = select.Blob(3);
      if (blob.empty() || blob.size() % sizeof(float) != 0)
        return Corruption(path_ + ": speaker '" + s.name + "' has an unreadable embedding");
      s.embedding.resize(blob.size() / sizeof(float));
      std::memcpy(s.embedding.data(), blob.data(), blob.size());
    }
    out.push_back(std::move(s));
  }
  if (rc != SQLITE_DONE) return select.Error("read");
  return out;
}

Result<EnrolledSpeaker> SpeakerRegistry::Get(const std::string& deployment, const std::string& name) {
  RETURN_IF_ERROR(ValidateSpeakerName(name));
  ASSIGN_OR_RETURN(std::vector<EnrolledSpeaker> found, Select(deployment, name, true));
  if (found.empty()) return NotFound("no speaker '" + name + "' is enrolled in '" + deployment + "'");
  return std::move(found.front());
}

Result<std::vector<EnrolledSpeaker>> SpeakerRegistry::List(const std::string& deployment) {
  return Select(deployment, "", false);
}

Result<std::vector<EnrolledSpeaker>> SpeakerRegistry::All(const std::string& deployment) {
  return Select(deployment, "", true);
}

Status SpeakerRegistry::Delete(const std::string& deployment, const std::string& name) {
  RETURN_IF_ERROR(ValidateSpeakerName(name));
  std::lock_guard<std::mutex> lock(mu_);
  Statement del(db_, "DELETE FROM speakers WHERE deployment=? AND name=?", kWhat);
  RETURN_IF_ERROR(del.prepared());
  del.Bind(1, deployment);
  del.Bind(2, name);
  RETURN_IF_ERROR(del.Run());
  if (sqlite3_changes(db_) == 0) return NotFound("no speaker '" + name + "' is enrolled in '" + deployment + "'");
  // secure_delete zeroed the row in the database pages; move them out of the
  // write-ahead log as well, so the old embedding is in no file.
  return Exec("PRAGMA wal_checkpoint(TRUNCATE);");
}

}  // namespace chorus::coordinator
