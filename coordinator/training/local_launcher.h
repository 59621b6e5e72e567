// LocalLauncher: runs an attempt on this host as `mpirun -np N COMMAND`, or
// (LaunchSpec::mpi false, one inference worker) as COMMAND itself.
//
// Each attempt gets a monitor process in a session (and process group) of its
// own: it starts mpirun, waits for it, and writes mpirun's exit status to the
// exit file. The monitor does not depend on the coordinator, so a coordinator
// that dies and restarts re-attaches by the monitor's pid (the handle).
// mpirun puts each rank in a process group of its own but they stay in the
// monitor's session, so Terminate works on the session: SIGTERM to the ranks
// (they checkpoint and exit), or with `force` SIGKILL to everything in it but
// the monitor (which then records the exit status). With options.run_as, the
// monitor stays the coordinator's user and what it starts runs as the account.
// Used from one thread.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "coordinator/run_as.h"
#include "coordinator/training/launcher.h"

namespace chorus::coordinator {

struct LocalLauncherOptions {
  int slots = 2;
  std::string mpirun = "mpirun";                         // found on PATH when not absolute
  std::vector<std::string> mpirun_args = {"--oversubscribe"};
  std::map<std::string, std::string> env;                // added for every attempt
  RunAs run_as;                                          // enabled: the processes run as this account
};

class LocalLauncher : public Launcher {
 public:
  explicit LocalLauncher(LocalLauncherOptions options);

  const std::string& name() const override { return name_; }
  int slots() const override { return options_.slots; }
  Result<std::string> Launch(const LaunchSpec& spec) override;
  Result<std::string> Find(const LaunchSpec& spec) override;
  RunStatus Poll(const std::string& handle, const std::string& exit_file) override;
  Status Terminate(const std::string& handle, bool force) override;

  // Where the monitor of an attempt records its pid before it starts mpirun.
  static std::string PidFile(const LaunchSpec& spec);

 private:
  LocalLauncherOptions options_;
  std::string name_ = "local";
};

struct SessionMember {
  int pid = 0;
  int parent = 0;
};
// Live (non-zombie) processes of session `sid`, found through /proc.
std::vector<SessionMember> SessionMembers(int sid);

}  // namespace chorus::coordinator
