// RunAs: the unprivileged account that a coordinator running as root starts
// its jobs' ranks and its serving workers as (config `run_as: USER`).
//
// Resolved once, at start, from the password database; root (uid 0) is
// refused. The launchers use it: a local launch drops to the account in the
// child right before exec (supplementary groups, group, then user; a failure
// ends the child, never runs it as root), a Slurm launch asks sbatch for
// --uid/--gid. Before either, the launch's own directory is handed to the
// account (GiveTree), and the directories above it that the coordinator owns
// are opened for traversal only (OpenForTraversal: 0711, so the account can
// reach its directory but not list or read anyone else's, and jobs.db, the
// token and the audit log stay 0600). An empty RunAs (the default) changes
// nothing: processes run as the coordinator. Thread-safe (pure data).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/util/status.h"

namespace chorus::coordinator {

struct RunAs {
  std::string user;  // "" : as the coordinator itself
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, primary included
  std::string home;

  bool enabled() const { return !user.empty(); }
  // HOME, USER and LOGNAME of the account (none when not enabled).
  std::vector<std::pair<std::string, std::string>> Environment() const;
};

// The account named `user` ("" : an empty RunAs). NotFound for an unknown
// user, InvalidArgument for root.
Result<RunAs> ResolveRunAs(const std::string& user);

// Gives `dir` and everything under it to the account (no-op when not enabled).
Status GiveTree(const RunAs& run_as, const std::string& dir);

// Makes `dir` (which must exist) mode 0711: enterable, not listable.
Status OpenForTraversal(const std::string& dir);

}  // namespace chorus::coordinator
