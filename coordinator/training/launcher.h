// Launcher: starts the processes of one job attempt somewhere, follows them,
// and stops them. The scheduler drives every launcher through this interface
// only; `local` (mpirun on this host) and `slurm` (sbatch/srun) implement it,
// and the serving pool will reuse it for inference workers.
//
// Every launch writes the exit status of the whole attempt to
// LaunchSpec::exit_file (atomically) when it ends, from a process that does not
// depend on the coordinator, so a coordinator restarted later still learns how
// an attempt ended. Implementations are used from one thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/proto/job.pb.h"
#include "common/util/status.h"

namespace chorus::coordinator {

struct LaunchSpec {
  int64_t job_id = 0;
  int attempt = 0;
  int ranks = 1;
  std::string name;                  // human-readable; Slurm job name
  std::string workdir;               // absolute; the processes start here
  std::string run_dir;               // absolute; the job's own directory (exists)
  std::vector<std::string> command;  // what every rank runs
  bool mpi = true;                   // false: `ranks` independent processes (inference workers), no MPI
  std::map<std::string, std::string> env;  // added to the processes' environment
  std::string log_path;              // stdout+stderr, appended
  std::string exit_file;             // written when the attempt ends
  int gpus_per_task = 0;             // GPUs each process needs (Slurm: --gpus-per-task)
  int nodes = 0;                     // 0: the launcher places them; N: over N nodes (Slurm: --nodes)
};

enum class RunState {
  kQueued,   // accepted, not started yet (Slurm PENDING)
  kRunning,
  kExited,   // ended; exit_code is valid
  kLost,     // ended without an exit status (killed, node failure, unknown handle)
};

struct RunStatus {
  RunState state = RunState::kLost;
  int exit_code = 0;
  std::string detail;  // why it was lost, or what the launcher saw
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  virtual const std::string& name() const = 0;
  // How many ranks it runs at once.
  virtual int slots() const = 0;
  // Whether it can spread one launch over several hosts (LaunchSpec::nodes > 1).
  virtual bool multi_node() const { return false; }
  // Starts the attempt; returns the handle that names it (a process group id,
  // a Slurm job id). A failure (mpirun missing, sbatch refused) names why.
  virtual Result<std::string> Launch(const LaunchSpec& spec) = 0;
  // For an attempt whose launch was never recorded (the coordinator died in
  // between): its handle if it was launched, "" if not.
  virtual Result<std::string> Find(const LaunchSpec& spec) = 0;
  virtual RunStatus Poll(const std::string& handle, const std::string& exit_file) = 0;
  // Asks the attempt to stop (SIGTERM: ranks checkpoint and exit); with
  // `force`, kills whatever is left.
  virtual Status Terminate(const std::string& handle, bool force) = 0;
  // Adds the nodes it launches on to `cluster` (Slurm: sinfo); none by default.
  virtual Status DescribeNodes(proto::ClusterStatus* /*cluster*/) { return Status::Ok(); }
};

// The exit status a launch recorded, or std::nullopt if there is none yet.
std::optional<int> ReadExitFile(const std::string& path);

}  // namespace chorus::coordinator
