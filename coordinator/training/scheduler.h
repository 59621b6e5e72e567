// Scheduler: the coordinator's brain for training jobs. It validates and
// queues submissions, starts the highest-priority pending job whose launcher
// has room for its ranks, follows running attempts (exit status, rank 0's
// heartbeats and progress), restarts failed attempts from their checkpoint up
// to max_restarts (with fewer ranks when the job allows it and the launcher is
// short), and cancels. After a coordinator restart Recover() re-attaches to
// attempts that still run and retries those that were lost.
//
// Every state change is written to the JobStore before the action it records
// (an attempt row before its launch, a cancel request before the signal).
// Single-threaded: the coordinator's server loop calls every method.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>

#include "common/proto/job.pb.h"
#include "common/util/status.h"
#include "coordinator/clock.h"
#include "coordinator/training/job_store.h"
#include "coordinator/training/launcher.h"

namespace chorus::coordinator {

struct SchedulerOptions {
  std::string state_dir;       // absolute; jobs/<id>/ live here
  std::string endpoint;        // where ranks reach the coordinator (CHORUS_COORDINATOR)
  // What an attempt's ranks get in their environment to reach the
  // coordinator: CHORUS_TOKEN, good for that job's attempt only
  // (Credentials::RankToken), and its CURVE keys when CURVE is on.
  std::function<std::map<std::string, std::string>(int64_t job_id, int attempt)> rank_env;
  std::string worker_binary;   // absolute path of chorus-worker
  std::string default_launcher = "local";
  int default_max_restarts = 2;
  double heartbeat_timeout_s = 60;    // a running rank 0 silent this long: attempt failed
  double startup_timeout_s = 600;     // ... before its first heartbeat
  double cancel_grace_s = 15;         // SIGTERM, then SIGKILL after this
  int heartbeat_interval_ms = 2000;   // asked of rank 0
};

class Scheduler {
 public:
  Scheduler(SchedulerOptions options, JobStore& store, std::map<std::string, Launcher*> launchers, Clock& clock);

  // Call once before serving: re-attach or retry what was running.
  Status Recover();

  // `owner`: the submitting credential's id, kept with the job (and scoping
  // its request id).
  Result<proto::Job> Submit(const proto::SubmitRequest& request, const std::string& owner = "");
  Result<proto::Job> Cancel(int64_t job_id);
  Result<proto::Job> Retry(int64_t job_id, int ranks);
  Result<proto::Job> Get(int64_t job_id);
  // tail > 0: the last `tail` bytes, whatever `offset` says.
  Result<proto::Logs> ReadLogs(int64_t job_id, int64_t offset, int max_bytes, int64_t tail = 0);
  // Progress reports with step > after_step (-1: all) and every evaluation.
  Result<proto::History> History(int64_t job_id, int64_t after_step);
  // Each launcher's slots and those running attempts hold, and its nodes.
  proto::ClusterStatus Cluster();
  // Rank 0's reports. Reports of an attempt that is no longer current are refused.
  Status Report(const proto::WorkerReport& report);

  // Follows running attempts and starts pending jobs. Call often (~5 Hz).
  void Tick();

  std::string LogPath(const proto::Job& job) const { return job.run_dir() + "/job.log"; }

 private:
  // What only this process knows about a running attempt.
  struct Live {
    std::string handle;
    std::string exit_file;
    int attempt = 0;
    double clock_start = 0;      // start of the current silence (heartbeat or start)
    bool heard = false;          // any heartbeat yet
    double terminate_at = 0;     // when SIGTERM was sent (0: not yet)
    bool killed = false;         // SIGKILL sent
    std::string failure;         // why the coordinator stopped it (timeout)
    std::string launcher;
    int ranks = 0;
  };

  Launcher* FindLauncher(const std::string& name);
  LaunchSpec MakeLaunchSpec(const proto::Job& job, int attempt, int ranks) const;
  int UsedSlots(const std::string& launcher) const;
  void StartPending();
  Status Launch(proto::Job job, int ranks);
  void Follow(int64_t job_id, Live& live);
  // Records how an attempt ended and decides the job's next state.
  Status FinishAttempt(int64_t job_id, int exit_code, const std::string& detail, bool counts_as_restart);
  void Terminate(int64_t job_id, Live& live, const std::string& why);
  std::string LastErrorLine(const proto::Job& job) const;

  SchedulerOptions options_;
  JobStore& store_;
  std::map<std::string, Launcher*> launchers_;
  Clock& clock_;
  std::map<int64_t, Live> live_;  // RUNNING jobs
};

}  // namespace chorus::coordinator
