// SlurmLauncher: runs an attempt as one Slurm batch job. It renders the
// training template (slurm/train.sbatch.in), submits it with `sbatch
// --parsable`, follows it with squeue (and scontrol once it left the queue),
// and cancels it with scancel. Ranks start through `srun --mpi=pmix` inside
// the batch script, which also writes the exit file. The handle is the Slurm
// job id. Used from one thread.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "coordinator/run_as.h"
#include "coordinator/training/launcher.h"

namespace chorus::coordinator {

struct SlurmLauncherOptions {
  int slots = 2;                    // ranks the partition runs at once
  std::string partition = "debug";
  std::string template_path;        // absolute, e.g. <repo>/slurm/train.sbatch.in
  std::string pool_template_path;   // for non-MPI launches (inference workers): slurm/serve-pool.sbatch.in
  std::string time_limit = "UNLIMITED";
  int cpus_per_task = 1;
  std::vector<std::string> extra_sbatch;      // extra "#SBATCH ..." lines
  std::map<std::string, std::string> command_env;  // for sbatch/squeue/...: e.g. SLURM_CONF
  std::map<std::string, std::string> env;          // exported to the ranks
  std::chrono::milliseconds command_timeout{20000};
  RunAs run_as;  // enabled: sbatch --uid/--gid (the coordinator runs as root)
};

class SlurmLauncher : public Launcher {
 public:
  explicit SlurmLauncher(SlurmLauncherOptions options);

  const std::string& name() const override { return name_; }
  int slots() const override { return options_.slots; }
  bool multi_node() const override { return true; }
  Result<std::string> Launch(const LaunchSpec& spec) override;
  Result<std::string> Find(const LaunchSpec& spec) override;
  RunStatus Poll(const std::string& handle, const std::string& exit_file) override;
  Status Terminate(const std::string& handle, bool force) override;
  // sinfo's nodes (one row per node and partition), asked at most every 5 s
  // with a 3 s timeout: in between, the last answer (or its error).
  Status DescribeNodes(proto::ClusterStatus* cluster) override;

  // The batch script for `spec` (exposed for tests).
  Result<std::string> RenderScript(const LaunchSpec& spec) const;
  static std::string JobName(const LaunchSpec& spec);
  // Parses `sinfo -h -N -o "%N|%P|%T|%c|%C|%G"` (CPUs as allocated/idle/other/total).
  static Result<std::vector<proto::SlurmNode>> ParseSinfoNodes(const std::string& text);
  // How many nodes to ask sbatch for: `requested`, or fewer when fewer of
  // `partition`'s nodes are up (idle, mixed, allocated, completing) — a lost
  // node must not keep an elastic retry pending forever. No node known up
  // (sinfo failed): `requested`.
  static int NodesToAsk(int requested, const std::vector<proto::SlurmNode>& nodes, const std::string& partition);

 private:
  // sinfo's nodes now (3 s timeout), or why not.
  Result<std::vector<proto::SlurmNode>> QueryNodes() const;
  // stdout, or the error; `timeout` 0: options_.command_timeout.
  Result<std::string> Slurm(const std::vector<std::string>& argv,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const;
  SlurmLauncherOptions options_;
  std::string name_ = "slurm";
  std::vector<proto::SlurmNode> nodes_;
  std::string nodes_error_;
  std::chrono::steady_clock::time_point nodes_at_{};
};

}  // namespace chorus::coordinator
