#include "coordinator/training/scheduler.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <spdlog/spdlog.h>

#include "common/config/job_spec.h"
#include "common/util/fs.h"
#include "coordinator/client/submit_limits.h"

namespace chorus::coordinator {

namespace fs = std::filesystem;

namespace {

std::string Seconds(double s) { return std::to_string(static_cast<int64_t>(std::lround(s))) + " s"; }

std::string ExitFile(const proto::Job& job, int attempt) {
  return job.run_dir() + "/attempt-" + std::to_string(attempt) + ".exit";
}

}  // namespace

Scheduler::Scheduler(SchedulerOptions options, JobStore& store, std::map<std::string, Launcher*> launchers,
                     Clock& clock)
    : options_(std::move(options)), store_(store), launchers_(std::move(launchers)), clock_(clock) {}

Launcher* Scheduler::FindLauncher(const std::string& name) {
  auto it = launchers_.find(name);
  return it == launchers_.end() ? nullptr : it->second;
}

LaunchSpec Scheduler::MakeLaunchSpec(const proto::Job& job, int attempt, int ranks) const {
  LaunchSpec spec;
  spec.job_id = job.id();
  spec.attempt = attempt;
  spec.ranks = ranks;
  spec.name = job.name();
  spec.workdir = job.workdir();
  spec.run_dir = job.run_dir();
  spec.command = {options_.worker_binary, "train", job.run_dir() + "/job.yaml", "--output-dir",
                  job.run_dir() + "/output"};
  spec.command.insert(spec.command.end(), job.worker_args().begin(), job.worker_args().end());
  spec.env = {
      {"CHORUS_COORDINATOR", options_.endpoint},
      {"CHORUS_JOB_ID", std::to_string(job.id())},
      {"CHORUS_ATTEMPT", std::to_string(attempt)},
      {"CHORUS_HEARTBEAT_MS", std::to_string(options_.heartbeat_interval_ms)},
      {"CHORUS_RUN_ID", std::to_string(job.id()) + "." + std::to_string(attempt)},
  };
  if (options_.rank_env)
    for (auto& [k, v] : options_.rank_env(job.id(), attempt)) spec.env[k] = std::move(v);
  spec.log_path = LogPath(job);
  spec.exit_file = ExitFile(job, attempt);
  spec.gpus_per_task = job.gpus_per_rank();
  // An elastic attempt with fewer ranks than nodes asks for as many nodes as
  // it has ranks; the launcher may place them on fewer if nodes were lost.
  spec.nodes = job.nodes() > 0 ? std::min(job.nodes(), ranks) : 0;
  return spec;
}

Result<proto::Job> Scheduler::Submit(const proto::SubmitRequest& r, const std::string& owner) {
  RETURN_IF_ERROR(CheckSubmitRequest(r));  // before parsing: a 50 MB job file is refused by its size
  // Request ids are the client's: one owner's id never names another's job.
  const std::string request_key = r.request_id().empty() || owner.empty() ? r.request_id() : owner + ":" + r.request_id();
  if (!request_key.empty()) {  // a retried submit: the job the first one queued
    ASSIGN_OR_RETURN(int64_t existing, store_.JobForRequest(request_key));
    if (existing != 0) {
      spdlog::info("job {}: submit {} retried; not queued again", existing, r.request_id());
      return store_.LoadJob(existing);
    }
  }
  const std::string where = r.spec_path().empty() ? "job.yaml" : r.spec_path();
  ASSIGN_OR_RETURN(config::TrainJobSpec spec, config::ParseTrainJobSpec(r.spec_yaml(), where));
  if (r.name().empty()) {
    if (Status s = CheckJobName(spec.name); !s.ok()) return InvalidArgument(where + ": name: " + s.message());
  }
  const std::string launcher_name = r.launcher().empty() ? options_.default_launcher : r.launcher();
  Launcher* launcher = FindLauncher(launcher_name);
  if (!launcher) {
    std::string known;
    for (const auto& [name, l] : launchers_) known += (known.empty() ? "" : ", ") + name;
    return InvalidArgument("unknown launcher '" + launcher_name + "' (this coordinator has: " + known + ")");
  }
  const int ranks = r.ranks() > 0 ? r.ranks() : 1;
  const int min_ranks = r.min_ranks() > 0 ? r.min_ranks() : ranks;
  if (min_ranks > ranks)
    return InvalidArgument("--min-ranks " + std::to_string(min_ranks) + " is more than --ranks " +
                           std::to_string(ranks));
  if (min_ranks > launcher->slots())
    return InvalidArgument("the job needs " + std::to_string(min_ranks) + " ranks but launcher " + launcher_name +
                           " has " + std::to_string(launcher->slots()) + " slots");
  if (!fs::path(r.workdir()).is_absolute() || !fs::is_directory(r.workdir()))
    return InvalidArgument("working directory '" + r.workdir() + "' is not an absolute path to a directory");
  if (r.max_restarts() > 100) return InvalidArgument("max_restarts above 100");
  if (r.nodes() < 0) return InvalidArgument("--nodes " + std::to_string(r.nodes()) + " is negative");
  if (r.nodes() > ranks)
    return InvalidArgument("--nodes " + std::to_string(r.nodes()) + " is more than --ranks " + std::to_string(ranks) +
                           ": every node runs at least one rank");
  if (r.nodes() > 1 && !launcher->multi_node())
    return InvalidArgument("launcher " + launcher_name + " runs on one host; --nodes " + std::to_string(r.nodes()) +
                           " needs a multi-node launcher (slurm)");

  proto::Job job;
  job.set_name(r.name().empty() ? spec.name : r.name());
  job.set_state(proto::PENDING);
  job.set_ranks(ranks);
  job.set_min_ranks(min_ranks);
  job.set_nodes(r.nodes());
  job.set_owner(owner);
  job.set_launcher(launcher_name);
  job.set_priority(r.priority());
  job.set_max_restarts(r.max_restarts() < 0 ? options_.default_max_restarts : r.max_restarts());
  job.set_submitted_at(clock_.Now());
  job.set_spec_path(where);
  job.set_workdir(r.workdir());
  for (const auto& a : r.worker_args()) job.add_worker_args(a);
  if (spec.training.device != "cpu") job.set_gpus_per_rank(1);
  RETURN_IF_ERROR(store_.Atomically([&]() -> Status {
    ASSIGN_OR_RETURN(int64_t id, store_.CreateJob(&job, r.spec_yaml(), request_key));
    job.set_run_dir(options_.state_dir + "/jobs/" + std::to_string(id));
    return store_.SaveJob(job);
  }));
  spdlog::info("job {} '{}' queued: {} rank(s) on {}, priority {}", job.id(), job.name(), ranks, launcher_name,
               job.priority());
  StartPending();  // start now if there is room, not at the next tick
  auto started = store_.LoadJob(job.id());
  return started.ok() ? *started : job;
}

int Scheduler::UsedSlots(const std::string& launcher) const {
  int used = 0;
  for (const auto& [id, live] : live_)
    if (live.launcher == launcher) used += live.ranks;
  return used;
}

void Scheduler::Tick() {
  std::vector<int64_t> running;
  for (const auto& [id, live] : live_) running.push_back(id);
  for (int64_t id : running) {
    auto it = live_.find(id);
    if (it != live_.end()) Follow(id, it->second);
  }
  StartPending();
}

void Scheduler::StartPending() {
  auto active = store_.ListJobs(/*active_only=*/true, 0);
  if (!active.ok()) {
    spdlog::error("scheduler: {}", active.status().ToString());
    return;
  }
  std::vector<proto::Job> pending;
  for (auto& j : *active)
    if (j.state() == proto::PENDING) pending.push_back(std::move(j));
  std::sort(pending.begin(), pending.end(), [](const proto::Job& a, const proto::Job& b) {
    return a.priority() != b.priority() ? a.priority() > b.priority() : a.id() < b.id();
  });
  // Strict priority per launcher: a job that does not fit holds back the
  // lower-priority jobs behind it on the same launcher (no starvation).
  std::set<std::string> blocked;
  for (auto& job : pending) {
    if (blocked.count(job.launcher())) continue;
    Launcher* launcher = FindLauncher(job.launcher());
    if (!launcher) {
      job.set_state(proto::FAILED);
      job.set_reason("launcher '" + job.launcher() + "' is not configured on this coordinator");
      job.set_finished_at(clock_.Now());
      if (Status s = store_.SaveJob(job); !s.ok()) spdlog::error("job {}: {}", job.id(), s.ToString());
      continue;
    }
    const int free = launcher->slots() - UsedSlots(job.launcher());
    int ranks = job.ranks();
    if (ranks > free) {
      if (job.min_ranks() <= free && free > 0) {
        ranks = free;  // elastic: fewer ranks now rather than waiting
      } else {
        blocked.insert(job.launcher());
        continue;
      }
    }
    if (Status s = Launch(job, ranks); !s.ok()) spdlog::error("job {}: {}", job.id(), s.ToString());
  }
}

Status Scheduler::Launch(proto::Job job, int ranks) {
  Launcher* launcher = FindLauncher(job.launcher());
  const int number = job.attempts() + 1;
  const double now = clock_.Now();
  RETURN_IF_ERROR(MakeDirs(job.run_dir()));
  ASSIGN_OR_RETURN(std::string spec_yaml, store_.JobSpec(job.id()));
  RETURN_IF_ERROR(AtomicWriteFile(job.run_dir() + "/job.yaml", spec_yaml));
  LaunchSpec spec = MakeLaunchSpec(job, number, ranks);

  proto::Attempt attempt;
  attempt.set_number(number);
  attempt.set_ranks(ranks);
  attempt.set_launcher(job.launcher());
  attempt.set_state("LAUNCHING");
  attempt.set_started_at(now);
  attempt.set_log_path(spec.log_path);
  job.set_state(proto::RUNNING);
  job.set_attempts(number);
  if (job.started_at() == 0) job.set_started_at(now);
  job.clear_reason();
  RETURN_IF_ERROR(store_.Atomically([&]() -> Status {
    RETURN_IF_ERROR(store_.SaveAttempt(job.id(), attempt));
    return store_.SaveJob(job);
  }));
  {
    std::ofstream log(spec.log_path, std::ios::app);
    log << "==== chorus: job " << job.id() << " attempt " << number << ", " << ranks << " rank(s) on "
        << job.launcher() << " ====\n";
  }
  Result<std::string> handle = launcher->Launch(spec);
  if (!handle.ok()) {
    spdlog::warn("job {} attempt {}: launch failed: {}", job.id(), number, handle.status().message());
    return FinishAttempt(job.id(), -1, "launch failed: " + handle.status().message(), true);
  }
  attempt.set_handle(*handle);
  attempt.set_state("RUNNING");
  Live live;
  live.handle = *handle;
  live.exit_file = spec.exit_file;
  live.attempt = number;
  live.clock_start = now;
  live.launcher = job.launcher();
  live.ranks = ranks;
  live_[job.id()] = live;
  spdlog::info("job {} attempt {} started on {} ({} rank(s), handle {})", job.id(), number, job.launcher(), ranks,
               *handle);
  // Should this write fail, Recover() finds the launch again through Find().
  return store_.SaveAttempt(job.id(), attempt);
}

void Scheduler::Follow(int64_t job_id, Live& live) {
  Launcher* launcher = FindLauncher(live.launcher);
  if (!launcher) return;
  RunStatus st = launcher->Poll(live.handle, live.exit_file);
  const double now = clock_.Now();
  Status s;
  switch (st.state) {
    case RunState::kExited:
      s = FinishAttempt(job_id, st.exit_code, "", true);
      break;
    case RunState::kLost:
      s = FinishAttempt(job_id, -1, st.detail, true);
      break;
    case RunState::kQueued:
      live.clock_start = now;  // waiting in Slurm's queue is not silence
      break;
    case RunState::kRunning:
      if (live.terminate_at > 0) {
        if (now - live.terminate_at > options_.cancel_grace_s) {
          spdlog::warn("job {} attempt {}: still running {} after SIGTERM; killing it", job_id, live.attempt,
                       Seconds(now - live.terminate_at));
          s = launcher->Terminate(live.handle, /*force=*/true);
          live.killed = true;
          live.terminate_at = now;
        }
        break;
      }
      if (double limit = live.heard ? options_.heartbeat_timeout_s : options_.startup_timeout_s;
          now - live.clock_start > limit) {
        Terminate(job_id, live,
                  std::string(live.heard ? "no heartbeat from rank 0 for " : "no first heartbeat from rank 0 within ") +
                      Seconds(now - live.clock_start));
      }
      break;
  }
  if (!s.ok()) spdlog::error("job {}: {}", job_id, s.ToString());
}

void Scheduler::Terminate(int64_t job_id, Live& live, const std::string& why) {
  if (!why.empty()) {
    live.failure = why;
    spdlog::warn("job {} attempt {}: {}; stopping it", job_id, live.attempt, why);
    // Written before acting: a coordinator restarted now still knows why.
    auto attempts = store_.Attempts(job_id);
    if (attempts.ok() && !attempts->empty()) {
      proto::Attempt a = attempts->back();
      a.set_reason(why);
      if (Status s = store_.SaveAttempt(job_id, a); !s.ok()) spdlog::error("job {}: {}", job_id, s.ToString());
    }
  }
  Launcher* launcher = FindLauncher(live.launcher);
  if (Status s = launcher->Terminate(live.handle, false); !s.ok())
    spdlog::error("job {}: terminate: {}", job_id, s.ToString());
  live.terminate_at = clock_.Now();
}

std::string Scheduler::LastErrorLine(const proto::Job& job) const {
  std::ifstream in(LogPath(job), std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff start = std::max<std::streamoff>(0, size - 65536);
  in.seekg(start);
  std::string tail(static_cast<size_t>(size - start), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  // Only this attempt's part of the log.
  if (size_t header = tail.rfind("==== chorus: job "); header != std::string::npos) tail = tail.substr(header);
  std::string last;
  size_t pos = 0;
  while (pos < tail.size()) {
    size_t end = tail.find('\n', pos);
    if (end == std::string::npos) end = tail.size();
    std::string line = tail.substr(pos, end - pos);
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.find("error") != std::string::npos) last = line;
    pos = end + 1;
  }
  if (last.size() > 300) last = last.substr(0, 300) + "...";
  return last;
}

Status Scheduler::FinishAttempt(int64_t job_id, int exit_code, const std::string& detail, bool counts_as_restart) {
  ASSIGN_OR_RETURN(proto::Job job, store_.LoadJob(job_id));
  ASSIGN_OR_RETURN(std::vector<proto::Attempt> attempts, store_.Attempts(job_id));
  if (attempts.empty()) return Internal("job " + std::to_string(job_id) + " has no attempt to finish");
  proto::Attempt attempt = attempts.back();
  std::string failure = attempt.reason();  // set when the coordinator stopped it
  if (auto it = live_.find(job_id); it != live_.end()) {
    if (!it->second.failure.empty()) failure = it->second.failure;
    live_.erase(it);
  }
  const double now = clock_.Now();
  attempt.set_finished_at(now);
  attempt.set_exit_code(exit_code);
  const std::string n = std::to_string(attempt.number());
  if (job.cancel_requested()) {
    attempt.set_state("CANCELLED");
    job.set_state(proto::CANCELLED);
    job.set_finished_at(now);
  } else if (exit_code == 0 && detail.empty() && failure.empty()) {
    attempt.set_state("SUCCEEDED");
    job.set_state(proto::SUCCEEDED);
    job.set_finished_at(now);
    job.clear_reason();
  } else {
    std::string why = !failure.empty() ? failure : !detail.empty() ? detail : "exit code " + std::to_string(exit_code);
    if (std::string error = LastErrorLine(job); !error.empty()) why += "; last error: " + error;
    attempt.set_state(detail.empty() ? "FAILED" : "LOST");
    attempt.set_reason(why);
    // Exit code 2 is chorus-worker's "invalid job": running it again cannot help.
    const bool permanent = exit_code == 2 && detail.empty() && failure.empty();
    if (!permanent && (!counts_as_restart || job.restarts() < job.max_restarts())) {
      job.set_state(proto::PENDING);
      if (counts_as_restart) {
        job.set_restarts(job.restarts() + 1);
        job.set_reason("attempt " + n + " failed (" + why + "); restart " + std::to_string(job.restarts()) + " of " +
                       std::to_string(job.max_restarts()) + " resumes from the latest checkpoint");
      } else {
        job.set_reason("attempt " + n + " was lost (" + why +
                       "); starting again from the latest checkpoint (not counted as a restart)");
      }
    } else {
      job.set_state(proto::FAILED);
      job.set_finished_at(now);
      job.set_reason("attempt " + n + " failed: " + why +
                     (permanent ? " (invalid job; not restarted)"
                                : "; no restarts left (max_restarts " + std::to_string(job.max_restarts()) + ")"));
    }
  }
  spdlog::info("job {} attempt {} ended ({}): job is {}{}", job_id, n, attempt.state(), JobStateName(job.state()),
               job.reason().empty() ? "" : " - " + job.reason());
  return store_.Atomically([&]() -> Status {
    RETURN_IF_ERROR(store_.SaveAttempt(job_id, attempt));
    return store_.SaveJob(job);
  });
}

Result<proto::Job> Scheduler::Cancel(int64_t job_id) {
  ASSIGN_OR_RETURN(proto::Job job, store_.LoadJob(job_id));
  if (IsTerminal(job.state()))
    return FailedPrecondition("job " + std::to_string(job_id) + " already ended (" + JobStateName(job.state()) + ")");
  auto live = live_.find(job_id);
  job.set_cancel_requested(true);
  job.set_reason("cancelled by user");
  if (job.state() == proto::PENDING || live == live_.end()) {
    job.set_state(proto::CANCELLED);
    job.set_finished_at(clock_.Now());
    RETURN_IF_ERROR(store_.SaveJob(job));
    spdlog::info("job {} cancelled before it started", job_id);
    return job;
  }
  RETURN_IF_ERROR(store_.SaveJob(job));  // before the signal
  spdlog::info("job {}: cancelling attempt {}", job_id, live->second.attempt);
  if (live->second.terminate_at == 0) Terminate(job_id, live->second, "");
  return job;
}

Result<proto::Job> Scheduler::Retry(int64_t job_id, int ranks) {
  ASSIGN_OR_RETURN(proto::Job job, store_.LoadJob(job_id));
  if (job.state() != proto::FAILED && job.state() != proto::CANCELLED)
    return FailedPrecondition("job " + std::to_string(job_id) + " is " + JobStateName(job.state()) +
                              "; only FAILED or CANCELLED jobs can be retried");
  if (ranks > 0) {
    Launcher* launcher = FindLauncher(job.launcher());
    if (launcher && ranks > launcher->slots())
      return InvalidArgument("launcher " + job.launcher() + " has " + std::to_string(launcher->slots()) +
                             " slots, fewer than " + std::to_string(ranks) + " ranks");
    job.set_ranks(ranks);
    job.set_min_ranks(std::min(job.min_ranks(), ranks));
  }
  job.set_state(proto::PENDING);
  job.set_restarts(0);
  job.set_cancel_requested(false);
  job.clear_reason();
  job.set_finished_at(0);
  RETURN_IF_ERROR(store_.SaveJob(job));
  spdlog::info("job {} queued again by retry", job_id);
  return job;
}

Result<proto::Job> Scheduler::Get(int64_t job_id) { return store_.LoadJob(job_id, /*history=*/true); }

Result<proto::Logs> Scheduler::ReadLogs(int64_t job_id, int64_t offset, int max_bytes, int64_t tail) {
  ASSIGN_OR_RETURN(proto::Job job, store_.LoadJob(job_id));
  if (offset < 0) return InvalidArgument("negative log offset");
  if (max_bytes <= 0 || max_bytes > (4 << 20)) max_bytes = 1 << 20;
  proto::Logs logs;
  std::ifstream in(LogPath(job), std::ios::binary | std::ios::ate);
  int64_t size = in ? static_cast<int64_t>(in.tellg()) : 0;
  if (tail > 0) offset = std::max<int64_t>(0, size - tail);
  if (in && offset < size) {
    std::string data(static_cast<size_t>(std::min<int64_t>(max_bytes, size - offset)), '\0');
    in.seekg(offset);
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    logs.set_data(data);
  }
  logs.set_next_offset(std::max(offset, offset + static_cast<int64_t>(logs.data().size())));
  logs.set_job_finished(IsTerminal(job.state()) && logs.next_offset() >= size);
  return logs;
}

Result<proto::History> Scheduler::History(int64_t job_id, int64_t after_step) {
  ASSIGN_OR_RETURN(proto::Job job, store_.LoadJob(job_id, /*history=*/true));
  ASSIGN_OR_RETURN(std::vector<proto::Progress> progress, store_.ProgressHistory(job_id));
  proto::History history;
  for (auto& p : progress)
    if (p.step() > after_step) *history.add_progress() = std::move(p);
  *history.mutable_evaluations() = job.evaluations();
  return history;
}

proto::ClusterStatus Scheduler::Cluster() {
  proto::ClusterStatus cluster;
  for (const auto& [name, launcher] : launchers_) {
    proto::LauncherUsage* u = cluster.add_launchers();
    u->set_name(name);
    u->set_slots(launcher->slots());
    u->set_used(UsedSlots(name));
    if (Status s = launcher->DescribeNodes(&cluster); !s.ok()) cluster.set_slurm_error(s.message());
  }
  return cluster;
}

Status Scheduler::Report(const proto::WorkerReport& r) {
  auto it = live_.find(r.job_id());
  if (it == live_.end() || it->second.attempt != r.attempt())
    return FailedPrecondition("job " + std::to_string(r.job_id()) + " attempt " + std::to_string(r.attempt()) +
                              " is not running");
  Live& live = it->second;
  const double now = clock_.Now();
  live.heard = true;
  live.clock_start = now;
  if (r.kind_case() == proto::WorkerReport::kHeartbeat || r.kind_case() == proto::WorkerReport::KIND_NOT_SET)
    return Status::Ok();
  ASSIGN_OR_RETURN(proto::Job job, store_.LoadJob(r.job_id()));
  return store_.Atomically([&]() -> Status {
    switch (r.kind_case()) {
      case proto::WorkerReport::kStep: {
        proto::Progress p = r.step();
        p.set_time(now);
        *job.mutable_progress() = p;
        RETURN_IF_ERROR(store_.AppendProgress(job.id(), p));
        break;
      }
      case proto::WorkerReport::kEvaluation: {
        proto::Evaluation e = r.evaluation();
        e.set_time(now);
        return store_.AppendEvaluation(job.id(), e);
      }
      case proto::WorkerReport::kCheckpoint:
        job.set_checkpoint(r.checkpoint());
        break;
      case proto::WorkerReport::kExportDir:
        job.set_export_dir(r.export_dir());
        break;
      default:
        return Status::Ok();
    }
    return store_.SaveJob(job);
  });
}

Status Scheduler::Recover() {
  ASSIGN_OR_RETURN(std::vector<proto::Job> active, store_.ListJobs(/*active_only=*/true, 0));
  for (const auto& job : active) {
    if (job.state() != proto::RUNNING) continue;
    Launcher* launcher = FindLauncher(job.launcher());
    ASSIGN_OR_RETURN(std::vector<proto::Attempt> attempts, store_.Attempts(job.id()));
    if (!launcher || attempts.empty()) {
      proto::Job copy = job;
      copy.set_state(proto::PENDING);
      RETURN_IF_ERROR(store_.SaveJob(copy));
      continue;
    }
    proto::Attempt attempt = attempts.back();
    LaunchSpec spec = MakeLaunchSpec(job, attempt.number(), attempt.ranks());
    std::string handle = attempt.handle();
    if (handle.empty()) {
      auto found = launcher->Find(spec);
      if (found.ok() && !found->empty()) {
        handle = *found;
        attempt.set_handle(handle);
        attempt.set_state("RUNNING");
        RETURN_IF_ERROR(store_.SaveAttempt(job.id(), attempt));
      }
    }
    if (handle.empty()) {
      RETURN_IF_ERROR(FinishAttempt(job.id(), -1, "the coordinator stopped before this launch was recorded", false));
      continue;
    }
    RunStatus st = launcher->Poll(handle, spec.exit_file);
    if (st.state == RunState::kExited) {
      RETURN_IF_ERROR(FinishAttempt(job.id(), st.exit_code, "", true));
    } else if (st.state == RunState::kLost) {
      RETURN_IF_ERROR(FinishAttempt(job.id(), -1, "lost while the coordinator was down: " + st.detail, false));
    } else {
      Live live;
      live.handle = handle;
      live.exit_file = spec.exit_file;
      live.attempt = attempt.number();
      live.clock_start = clock_.Now();
      live.heard = true;  // it ran before; heartbeats resume within an interval
      live.launcher = job.launcher();
      live.ranks = attempt.ranks();
      live_[job.id()] = live;
      spdlog::info("re-attached to job {} attempt {} (handle {})", job.id(), attempt.number(), handle);
      if (job.cancel_requested()) Terminate(job.id(), live_[job.id()], "");
    }
  }
  return Status::Ok();
}

}  // namespace chorus::coordinator
