#include "common/util/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace chorus {
namespace {

std::string TempPathFor(const std::string& path) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  std::ostringstream out;
  out << path << ".tmp." << ::getpid() << "." << std::hex << rng();
  return out.str();
}

Status FsyncPath(const std::string& path, bool directory) {
  int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return IoError(path + ": open for fsync: " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return IoError(path + ": fsync: " + std::strerror(err));
  return Status::Ok();
}

}  // namespace

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return IoError(path + ": read failed");
  return buf.str();
}

Status AtomicWriteWith(const std::string& path, const std::function<Status(const std::string&)>& write) {
  namespace fs = std::filesystem;
  fs::path target(path);
  if (target.has_parent_path()) RETURN_IF_ERROR(MakeDirs(target.parent_path().string()));
  const std::string tmp = TempPathFor(path);
  Status st = write(tmp);
  if (st.ok()) st = FsyncPath(tmp, false);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    st = IoError(path + ": rename from " + tmp + ": " + std::strerror(errno));
  }
  if (!st.ok()) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return st;
  }
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  return FsyncPath(dir, true);
}

Status AtomicWriteFile(const std::string& path, const std::string& contents) {
  return AtomicWriteWith(path, [&](const std::string& tmp) -> Status {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return IoError(tmp + ": cannot create: " + std::strerror(errno));
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) return IoError(tmp + ": write failed");
    return Status::Ok();
  });
}

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return IoError(path + ": cannot create directory: " + ec.message());
  return Status::Ok();
}

}  // namespace chorus
