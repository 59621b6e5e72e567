// Autoscaler: keeps each deployed model's pool of inference workers sized to
// its load. The signal is ongoing (queued + running) requests per worker,
// averaged over the time since the last tick, against the deployment's target, with separate scale-up and scale-down
// delays and min/max workers (DesiredWorkers, a pure function). Workers are
// `chorus-worker serve` processes started through the coordinator's
// launchers (local processes, or Slurm jobs from slurm/serve-pool.sbatch.in).
// A worker is removed by draining it (the broker stops sending it requests,
// it answers what it holds, says goodbye and exits), so no request is lost.
// With min_workers 0 a model scales to zero; its requests then queue in the
// broker while the first worker starts (cold start).
// Deployments live in the JobStore and survive a coordinator restart.
// Single-threaded: the coordinator's loop calls every method.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/proto/job.pb.h"
#include "common/util/status.h"
#include "coordinator/broker.h"
#include "coordinator/clock.h"
#include "coordinator/job_store.h"
#include "coordinator/launcher.h"

namespace chorus::coordinator {

Status ValidateScalePolicy(const proto::ScalePolicy& policy);

// When load first crossed the target in each direction (< 0: not crossed).
struct ScaleTimers {
  double above_since = -1;
  double below_since = -1;
};

// How many workers a model should have now, given how many it has (starting
// ones included) and its ongoing requests (the mean since the last decision:
// an instant reading between two batches reads zero under full load). Scaling up from zero is immediate;
// otherwise up waits scale_up_delay_s, and down waits scale_down_delay_s and
// then removes one worker at a time.
int DesiredWorkers(const proto::ScalePolicy& policy, int current, double ongoing, double now, ScaleTimers* timers);

struct AutoscalerOptions {
  std::string state_dir;      // deployments/<name>/ (worker logs) live here
  std::string worker_binary;  // chorus-worker
  std::string token;
  double drain_timeout_s = 60;  // a draining worker still running after this is killed
  double orphan_timeout_s = 60;  // workers exit after the broker is silent this long
};

class Autoscaler {
 public:
  Autoscaler(AutoscalerOptions options, Broker& broker, std::map<std::string, Launcher*> launchers, JobStore& store,
             Clock& clock);

  Status Recover();  // loads the deployments; their workers are started by Tick
  Result<proto::Deployment> Deploy(proto::Deployment deployment);
  Result<proto::Deployment> Scale(const std::string& name, int min_workers, int max_workers);
  Status Undeploy(const std::string& name);  // drains every worker
  void Tick();
  proto::ServingStatus ServingStatus() const;

 private:
  struct Worker {
    std::string id, handle, launcher, state, exit_file;  // state: STARTING, READY, DRAINING
    double started_at = 0, draining_since = 0;
  };
  struct Pool {
    proto::Deployment deployment;
    std::vector<Worker> workers;
    ScaleTimers timers;
    double ongoing_seconds = -1, measured_at = 0;  // the broker's integral at the last tick
    int desired = 0;
    bool removed = false;  // undeployed: drain everything, then forget
  };
  void StartWorker(Pool& pool);
  void Follow(Pool& pool, const BrokerSnapshot& snapshot);
  static double MeanOngoing(Pool& pool, const ModelStats& stats, double now);

  AutoscalerOptions options_;
  Broker& broker_;
  std::map<std::string, Launcher*> launchers_;
  JobStore& store_;
  Clock& clock_;
  std::map<std::string, Pool> pools_;
  int64_t next_worker_ = 1;
};

}  // namespace chorus::coordinator
