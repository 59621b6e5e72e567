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
// Deploying another version folder under a deployed name is a rolling update.
// When only the folder changed (same launcher, device, threads and batching:
// what a worker process is started with), it happens in place: each ready
// worker is asked to load the new folder (the broker's load command), opens
// it while the old version serves, and switches between two requests; no
// process starts or stops. Otherwise, or when a worker fails to load within
// load_timeout_s, workers of the new version start, and the old ones are
// drained only once as many new ones are ready as the pool wants. Either
// way requests never lack a worker.
// Workers that end before they were ever ready are restarted after a growing
// delay (StartBackoffSeconds); a ready worker the broker dropped as silent
// (stopped, hung) is killed and replaced.
// Deployments live in the JobStore and survive a coordinator restart; each
// started worker leaves a record (deployments/<name>/<id>.worker: launcher,
// handle, model folder), so a restarted coordinator adopts the workers that
// still run instead of starting others beside them.
// Single-threaded: the coordinator's loop calls every method.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/proto/job.pb.h"
#include "common/util/status.h"
#include "coordinator/client/scale_policy.h"
#include "coordinator/clock.h"
#include "coordinator/serving/broker.h"
#include "coordinator/training/job_store.h"
#include "coordinator/training/launcher.h"

namespace chorus::coordinator {

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

// Seconds to wait before starting a pool's next worker after `failures`
// workers in a row ended before they were ready: 0 for none, then 0.5, 1, 2,
// ... up to 60.
double StartBackoffSeconds(int failures);

struct AutoscalerOptions {
  std::string state_dir;      // deployments/<name>/ (worker logs) live here
  std::string worker_binary;  // chorus-worker
  // Added to every worker's environment: its token (CHORUS_TOKEN) and, with
  // CURVE, its keys and the coordinator's.
  std::map<std::string, std::string> env;
  double drain_timeout_s = 60;  // a draining worker still running after this is killed
  double orphan_timeout_s = 60;  // workers exit after the broker is silent this long
  double lost_after_s = 2;       // a ready worker unknown to the broker this long is killed and replaced
  double start_timeout_s = 300;  // a worker not ready after this long is killed (counts as a failed start)
  double adopt_timeout_s = 15;   // an adopted worker must say hello to the new broker within this
  double load_timeout_s = 120;   // a worker asked to load a new version in place must serve it within this
};

class Autoscaler {
 public:
  Autoscaler(AutoscalerOptions options, Broker& broker, std::map<std::string, Launcher*> launchers, JobStore& store,
             Clock& clock);

  Status Recover();  // loads the deployments; their workers are started by Tick
  Result<proto::Deployment> Deploy(proto::Deployment deployment);
  Result<proto::Deployment> Scale(const std::string& name, int min_workers, int max_workers);
  // Drains every worker started for it; workers that serve it but were not
  // (started by hand) unload it in place. NotFound when neither exists.
  Status Undeploy(const std::string& name);
  void Tick();
  proto::ServingStatus ServingStatus() const;

 private:
  struct Worker {
    // state: STARTING, READY, DRAINING, or LOST (killed; waiting for it to end)
    std::string id, handle, launcher, state, exit_file, model_dir;
    int64_t number = 0;  // the launch attempt number (names its pid file / Slurm job)
    double started_at = 0, draining_since = 0, unregistered_since = -1;
    bool adopted = false;
    std::string loading_dir;   // asked to load this folder in place; not serving it yet
    double load_sent_at = 0;
    bool in_place_failed = false;  // replaced the old way instead
  };
  struct Pool {
    proto::Deployment deployment;
    std::vector<Worker> workers;
    ScaleTimers timers;
    double ongoing_seconds = -1, measured_at = 0;  // the broker's integral at the last tick
    int start_failures = 0;   // workers in a row that ended before they were ready
    double hold_until = 0;    // no new worker before this (backoff)
    int desired = 0;
    bool removed = false;  // undeployed: drain everything, then forget
    bool in_place = false;  // the last deploy changed only the folder: update workers in place
  };
  void StartWorker(Pool& pool);
  void WriteRecord(const Pool& pool, const Worker& w);  // what a restarted coordinator adopts
  void LoadInPlace(Pool& pool, double now);  // asks ready workers of an older folder to load the deployed one
  void Adopt(Pool& pool);  // workers recorded by an earlier coordinator that still run
  std::string RunDir(const proto::Deployment& d) const;
  std::string RecordPath(const proto::Deployment& d, const std::string& id) const;  // the worker's record
  void Drain(Worker& w, double now);  // the broker stops sending it requests; it answers what it holds and leaves
  void Kill(Worker& w);               // SIGKILL; LOST until its launcher reports the end
  static void FailedStart(Pool& pool, double now);  // one more start that never got ready: back off
  static bool Serving(const Worker& w) { return w.state == "STARTING" || w.state == "READY"; }
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
