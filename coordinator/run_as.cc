#include "coordinator/run_as.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace chorus::coordinator {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::string>> RunAs::Environment() const {
  if (!enabled()) return {};
  return {{"HOME", home}, {"USER", user}, {"LOGNAME", user}};
}

Result<RunAs> ResolveRunAs(const std::string& user) {
  RunAs out;
  if (user.empty()) return out;
  std::vector<char> buffer(16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  int rc = getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0) return Unavailable("cannot read the password database: " + std::string(std::strerror(rc)));
  if (!found) return NotFound("no user named '" + user + "' on this host");
  if (found->pw_uid == 0)
    return InvalidArgument("'" + user + "' is root (uid 0); name an unprivileged user, e.g. nobody");
  out.user = user;
  out.uid = found->pw_uid;
  out.gid = found->pw_gid;
  out.home = found->pw_dir ? found->pw_dir : "/";
  int count = 16;
  std::vector<gid_t> groups(count);
  while (getgrouplist(user.c_str(), out.gid, groups.data(), &count) < 0) groups.resize(count);
  groups.resize(count);
  out.groups = std::move(groups);
  return out;
}

Status GiveTree(const RunAs& run_as, const std::string& dir) {
  if (!run_as.enabled()) return Status::Ok();
  auto give = [&](const fs::path& p) -> Status {
    if (::lchown(p.c_str(), run_as.uid, run_as.gid) != 0)
      return IoError(p.string() + ": cannot give it to " + run_as.user + ": " + std::strerror(errno));
    return Status::Ok();
  };
  RETURN_IF_ERROR(give(dir));
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end; !ec && it != end;
       it.increment(ec))
    RETURN_IF_ERROR(give(it->path()));
  if (ec) return IoError(dir + ": cannot walk it: " + ec.message());
  return Status::Ok();
}

Status OpenForTraversal(const std::string& dir) {
  if (::chmod(dir.c_str(), 0711) != 0) return IoError(dir + ": cannot make it enterable (0711): " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace chorus::coordinator
