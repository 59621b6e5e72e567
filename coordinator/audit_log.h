// AuditLog: one JSON line per control action, appended to a file the
// coordinator alone may read (0600): who (credential id and role), what
// (the action and its target), when (epoch seconds), and the result (the
// Status code name, and the message when it failed). Refused requests are
// written too: they are what an audit is for. Each line is written with one
// write(2) on an O_APPEND descriptor, so concurrent writers never interleave
// and a crash loses at most the line being written. Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/util/status.h"

namespace chorus::coordinator {

struct AuditEntry {
  std::string who;     // credential id, "root", "rank-J.A", "worker", or "-" (no valid token)
  std::string role;    // admin, submit, infer, worker, rank, or ""
  std::string action;  // "submit", "cancel", "token_create", ...
  std::string target;  // "job 7", "deployment kws", "credential 3fa2c0d1e4b5", ...
  Status result;
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path, std::function<double()> now);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void Write(const AuditEntry& entry);  // a failed write is logged, never fatal

  const std::string& path() const { return path_; }

 private:
  AuditLog(int fd, std::string path, std::function<double()> now) : fd_(fd), path_(std::move(path)), now_(std::move(now)) {}
  int fd_;
  std::string path_;
  std::function<double()> now_;
  std::mutex mutex_;
};

}  // namespace chorus::coordinator
