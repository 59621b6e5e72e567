// Statement: one prepared SQLite statement, finalized when it goes out of
// scope, with typed binds and column reads; errors name `what` (the store)
// and SQLite's message. Used by the job store and the speaker registry.
// Not thread-safe (one statement, one thread).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "common/util/status.h"

namespace chorus::coordinator {

class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const char* what = "job store") : db_(db), what_(what) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Status prepared() const { return rc_ == SQLITE_OK ? Status::Ok() : Error("prepare"); }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  void Bind(int i, const std::string& v) { sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT); }
  void BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  // SQLITE_ROW: a row is ready; SQLITE_DONE: finished; anything else: error.
  int Step() { return rc_ = sqlite3_step(stmt_); }
  Status Run() { return Step() == SQLITE_DONE ? Status::Ok() : Error("step"); }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::string Blob(int col) {
    const void* p = sqlite3_column_blob(stmt_, col);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  Status Error(const char* what) const {
    return IoError(std::string(what_) + " " + what + ": " + sqlite3_errmsg(db_));
  }

 private:
  sqlite3* db_;
  const char* what_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

}  // namespace chorus::coordinator
