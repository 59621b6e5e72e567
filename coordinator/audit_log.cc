#include "coordinator/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace chorus::coordinator {

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, std::function<double()> now) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(path + ": cannot open the audit log: " + std::strerror(errno));
  fchmod(fd, 0600);  // whatever it was before
  return std::unique_ptr<AuditLog>(new AuditLog(fd, path, std::move(now)));
}

AuditLog::~AuditLog() { close(fd_); }

void AuditLog::Write(const AuditEntry& e) {
  nlohmann::json line = {{"time", now_()},     {"who", e.who},       {"role", e.role},
                         {"action", e.action}, {"target", e.target}, {"result", StatusCodeName(e.result.code())}};
  if (!e.result.ok()) line["error"] = e.result.message();
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(mutex_);
  if (write(fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    spdlog::error("audit log {}: write failed: {}", path_, std::strerror(errno));
}

}  // namespace chorus::coordinator
