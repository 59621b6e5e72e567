#include "coordinator/cli/job_commands.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#include <google/protobuf/util/json_util.h>

#include "common/config/job_spec.h"
#include "common/util/fs.h"
#include "coordinator/cli/history_plot.h"
#include "coordinator/client/job_state.h"
#include "coordinator/client/submit_limits.h"

namespace chorus::cli {

namespace fs = std::filesystem;

namespace {

// 128 random bits in hex: a submit's request id.
std::string RandomRequestId() {
  std::random_device random;
  std::string id;
  char hex[9];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(random()));
    id += hex;
  }
  return id;
}

std::string Duration(double seconds) {
  if (seconds < 0 || !std::isfinite(seconds)) return "-";
  int64_t s = static_cast<int64_t>(std::lround(seconds));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else std::snprintf(buf, sizeof buf, "%llds", (long long)s);
  return buf;
}

std::string Clock(double unix_seconds) {
  if (unix_seconds <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}


const char* State(const proto::Job& job) { return coordinator::JobStateName(job.state()); }

std::string StepText(const proto::Job& job) {
  const auto& p = job.progress();
  if (p.step() == 0) return "-";
  return std::to_string(p.step()) + "/" + std::to_string(p.total_steps());
}

// "[##########..........]  120/500  24%  ETA 1m12s  loss 0.523  acc 0.871  1234 samples/s"
std::string ProgressLine(const proto::Job& job) {
  const auto& p = job.progress();
  char buf[256];
  if (p.step() == 0) {
    std::snprintf(buf, sizeof buf, "job %lld %s (attempt %d): waiting for the first step", (long long)job.id(),
                  State(job), job.attempts());
    return buf;
  }
  const double frac = p.total_steps() > 0 ? std::min(1.0, double(p.step()) / double(p.total_steps())) : 0;
  const int width = 24, filled = static_cast<int>(frac * width);
  std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
  std::snprintf(buf, sizeof buf, "%s %lld/%lld %3.0f%%  ETA %s  loss %.4f  acc %.3f  %.0f samples/s  %s",
                bar.c_str(), (long long)p.step(), (long long)p.total_steps(), 100 * frac,
                Duration(p.eta_seconds()).c_str(), p.loss(), p.accuracy(), p.samples_per_second(), State(job));
  return buf;
}

void PrintJob(const proto::Job& job) {
  std::printf("job %lld  %s\n", (long long)job.id(), job.name().c_str());
  std::printf("  state        %s%s\n", State(job), job.cancel_requested() && !coordinator::IsTerminal(job.state())
                                                      ? " (cancel requested)" : "");
  if (!job.reason().empty()) std::printf("  reason       %s\n", job.reason().c_str());
  std::printf("  ranks        %d%s%s on %s, priority %d\n", job.ranks(),
              job.min_ranks() < job.ranks() ? (" (min " + std::to_string(job.min_ranks()) + ")").c_str() : "",
              job.nodes() > 0 ? (" over " + std::to_string(job.nodes()) + (job.nodes() == 1 ? " node" : " nodes")).c_str()
                              : "",
              job.launcher().c_str(), job.priority());
  std::printf("  attempts     %d (restarts %d of %d)\n", job.attempts(), job.restarts(), job.max_restarts());
  std::printf("  submitted    %s   started %s   finished %s\n", Clock(job.submitted_at()).c_str(),
              Clock(job.started_at()).c_str(), Clock(job.finished_at()).c_str());
  std::printf("  job file     %s\n  run dir      %s\n", job.spec_path().c_str(), job.run_dir().c_str());
  if (job.progress().step() > 0) std::printf("  progress     %s\n", ProgressLine(job).c_str());
  if (!job.checkpoint().empty()) std::printf("  checkpoint   %s\n", job.checkpoint().c_str());
  if (!job.export_dir().empty()) std::printf("  exported     %s\n", job.export_dir().c_str());
  if (job.evaluations_size() > 0) {
    std::printf("  evaluations\n");
    for (const auto& e : job.evaluations())
      if (e.metric().empty() || e.metric() == "accuracy")
        std::printf("    step %-7lld %-10s accuracy %.4f  macro-F1 %.4f  (%lld clips)\n", (long long)e.step(),
                    e.split().c_str(), e.accuracy(), e.macro_f1(), (long long)e.count());
      else
        std::printf("    step %-7lld %-10s %s %.4f  (%lld examples)\n", (long long)e.step(), e.split().c_str(),
                    e.metric().c_str(), e.score(), (long long)e.count());
  }
  if (job.attempt_history_size() > 0) {
    std::printf("  attempts\n");
    for (const auto& a : job.attempt_history())
      std::printf("    #%-3d %-9s %d rank(s) on %s (handle %s) %s - %s%s%s\n", a.number(), a.state().c_str(), a.ranks(),
                  a.launcher().c_str(), a.handle().empty() ? "-" : a.handle().c_str(), Clock(a.started_at()).c_str(),
                  Clock(a.finished_at()).c_str(), a.reason().empty() ? "" : ": ", a.reason().c_str());
  }
}

proto::Request JobRequest(int64_t id, proto::JobRequest* (proto::Request::*field)()) {
  proto::Request r;
  (r.*field)()->set_job_id(id);
  return r;
}

}  // namespace

void JobCommands::Register(CLI::App& app) {
  app.add_option("--coordinator", connect_.coordinator,
                 "coordinator endpoint, or both of an active/standby pair comma-separated (default: $CHORUS_COORDINATOR, else STATE_DIR/endpoint, else the config's "
                 "listen address)");
  app.add_option("--config", connect_.config_path,
                 "coordinator config (default: $CHORUS_CONFIG, else configs/coordinator.yaml when present)");
  app.add_option("--state-dir", connect_.state_dir, "the coordinator's state directory (endpoint and token files)");
  app.footer(kJobExitCodes);

  submit_ = app.add_subcommand("submit", "Queue a training job with the coordinator");
  submit_->add_option("job", job_file_, "job file, e.g. jobs/kws/synth-demo.yaml")->required();
  submit_->add_option("--ranks", ranks_, "data-parallel ranks")->capture_default_str()->check(CLI::Range(1, 4096));
  submit_->add_option("--nodes", nodes_,
                      "spread the ranks over exactly this many nodes (Slurm --nodes; at most --ranks); "
                      "default: the launcher places them")
      ->check(CLI::Range(1, 4096));
  submit_->add_option("--request-id", request_id_,
                      "this submit's id (at most 64 bytes; default: a random one): a submit retried with the same id "
                      "returns the job the first one queued instead of queueing another");
  submit_->add_option("--min-ranks", min_ranks_,
                      "elastic: start or restart with as few as this many ranks when fewer slots are free");
  submit_->add_option("--launcher", launcher_, "local (mpirun on the coordinator's host) or slurm")
      ->check(CLI::IsMember({"local", "slurm"}));
  submit_->add_option("--priority", priority_, "higher runs first")->capture_default_str();
  submit_->add_option("--max-restarts", max_restarts_, "restarts from the latest checkpoint after a failure "
                                                       "(default: the coordinator's)")
      ->check(CLI::Range(0, 100));
  submit_->add_option("--name", name_, "job name (default: the job file's name)");
  submit_->add_option("--max-steps", max_steps_, "passed to chorus-worker train")->check(CLI::Range(1, 1 << 30));
  submit_->add_option("--threads", threads_, "intra-op threads per rank")->check(CLI::Range(1, 256));
  submit_->add_option("--log-every-steps", log_every_steps_,
                      "report progress (the dashboard's curve points) every N steps (default: the worker's 20)")
      ->check(CLI::Range(1, 1 << 30));
  submit_->add_flag("--watch", watch_after_submit_, "then watch it until it ends");

  list_ = app.add_subcommand("list", "List jobs, newest first");
  list_->add_flag("--active", active_only_, "only PENDING and RUNNING jobs");
  list_->add_option("--limit", limit_, "at most this many (0: all)")->capture_default_str();
  list_->add_option("--output", output_, "table or json")->check(CLI::IsMember({"table", "json"}));

  status_ = app.add_subcommand("status", "Show one job: state, progress, evaluations, attempts");
  status_->add_option("id", job_id_, "job id")->required();
  status_->add_option("--output", output_, "table or json")->check(CLI::IsMember({"table", "json"}));
  status_->add_flag("--plot", plot_,
                    "also draw the job's curves with gnuplot: training (loss, accuracy, evaluations, learning rate "
                    "by step) and, when its run folder is readable here, the final confusion matrices");
  status_->add_option("--plot-dir", plot_dir_, "where --plot writes (default plots/job-ID)");
  status_->add_option("--plot-format", plot_format_, "png or svg")
      ->capture_default_str()
      ->check(CLI::IsMember({"png", "svg"}));

  watch_ = app.add_subcommand("watch", "Follow a job's progress live until it ends");
  watch_->add_option("id", job_id_, "job id")->required();

  logs_ = app.add_subcommand("logs", "Print a job's output (all attempts, all ranks)");
  logs_->add_option("id", job_id_, "job id")->required();
  logs_->add_flag("-f,--follow", follow_, "keep printing new output until the job ends");

  cancel_ = app.add_subcommand("cancel", "Cancel a job: queued jobs are dropped, ranks of a running one get "
                                         "SIGTERM (they checkpoint), then SIGKILL");
  cancel_->add_option("id", job_id_, "job id")->required();

  retry_ = app.add_subcommand("retry", "Queue a FAILED or CANCELLED job again; it resumes from its checkpoint");
  retry_->add_option("id", job_id_, "job id")->required();
  retry_->add_option("--ranks", ranks_, "run it with this many ranks from now on");
}

std::optional<int> JobCommands::Run() {
  if (submit_->parsed()) return Submit();
  if (list_->parsed()) return List();
  if (status_->parsed()) return ShowStatus();
  if (watch_->parsed()) return Watch(job_id_);
  if (logs_->parsed()) return Logs();
  if (cancel_->parsed()) return Cancel();
  if (retry_->parsed()) return Retry();
  return std::nullopt;
}

Result<JobClient> JobCommands::Client() const { return JobClient::Connect(connect_); }

int FailWith(const Status& s) {
  std::cerr << "chorus: " << s.message() << std::endl;
  switch (s.code()) {
    case StatusCode::kInvalidArgument: return 2;
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded: return 3;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied: return 4;
    case StatusCode::kNotFound: return 5;
    case StatusCode::kFailedPrecondition: return 6;
    default: return 7;
  }
}

int JobCommands::Submit() {
  // Validate here first: a bad file never reaches the queue.
  if (!fs::is_regular_file(job_file_)) return Fail(InvalidArgument(job_file_ + ": no such job file"));
  std::error_code size_error;
  if (const auto size = fs::file_size(job_file_, size_error); !size_error && size > uintmax_t(coordinator::kMaxJobFileBytes))
    return Fail(InvalidArgument(job_file_ + ": the job file is " + std::to_string(size) + " bytes; at most " +
                                std::to_string(coordinator::kMaxJobFileBytes) + " (1 MiB). Nothing was queued."));
  auto spec = config::LoadTrainJobSpec(job_file_);
  if (!spec.ok()) return Fail(InvalidArgument("invalid job file, nothing was queued:\n" + spec.status().message()));
  auto text = ReadFile(job_file_);
  if (!text.ok()) return Fail(text.status());
  if (min_ranks_ > ranks_) return Fail(InvalidArgument("--min-ranks is larger than --ranks"));
  auto client = Client();
  if (!client.ok()) return Fail(client.status());
  proto::Request request;
  proto::SubmitRequest* s = request.mutable_submit();
  s->set_spec_yaml(*text);
  s->set_spec_path(fs::absolute(job_file_).lexically_normal().string());
  s->set_workdir(fs::current_path().string());
  s->set_ranks(ranks_);
  s->set_min_ranks(min_ranks_);
  s->set_nodes(nodes_);
  s->set_launcher(launcher_);
  s->set_priority(priority_);
  s->set_max_restarts(max_restarts_);
  s->set_name(name_);
  if (log_every_steps_ > 0) {
    s->add_worker_args("--log-every-steps");
    s->add_worker_args(std::to_string(log_every_steps_));
  }
  if (max_steps_ > 0) {
    s->add_worker_args("--max-steps");
    s->add_worker_args(std::to_string(max_steps_));
  }
  if (threads_ > 0) {
    s->add_worker_args("--threads");
    s->add_worker_args(std::to_string(threads_));
  }
  if (request_id_.empty()) request_id_ = RandomRequestId();
  s->set_request_id(request_id_);
  if (Status valid = coordinator::CheckSubmitRequest(*s); !valid.ok())
    return Fail(InvalidArgument(valid.message() + ". Nothing was queued."));
  if (s->name().empty()) {
    if (Status valid = coordinator::CheckJobName(spec->name); !valid.ok())
      return Fail(InvalidArgument(job_file_ + ": name: " + valid.message() + ". Nothing was queued."));
  }
  // A coordinator that is slow, not gone, may have queued the job: the same
  // request id makes a retry return that job instead of a second one.
  auto reply = client->Call(request);
  for (int retry = 0; retry < 2 && !reply.ok() && reply.status().code() == StatusCode::kUnavailable; ++retry)
    reply = client->Call(request);
  if (!reply.ok() && reply.status().code() == StatusCode::kUnavailable)
    return Fail(Unavailable(reply.status().message() + "\nIf it was only slow, the job may be queued: submit again with " +
                            "--request-id " + request_id_ + " and it is queued at most once."));
  if (!reply.ok()) return Fail(reply.status());
  const proto::Job& job = reply->job();
  std::printf("submitted job %lld (%s): %d rank(s) on %s\n", (long long)job.id(), job.name().c_str(), job.ranks(),
              job.launcher().c_str());
  std::fflush(stdout);
  return watch_after_submit_ ? Watch(job.id()) : 0;
}

int JobCommands::List() {
  auto client = Client();
  if (!client.ok()) return Fail(client.status());
  proto::Request request;
  request.mutable_list()->set_active_only(active_only_);
  request.mutable_list()->set_limit(limit_);
  auto reply = client->Call(request);
  if (!reply.ok()) return Fail(reply.status());
  if (output_ == "json") {
    std::cout << ToJson(reply->list()) << std::endl;
    return 0;
  }
  std::printf("%-5s %-22s %-10s %-6s %-8s %-4s %-13s %-7s %-19s %s\n", "ID", "NAME", "STATE", "RANKS", "LAUNCHER",
              "TRY", "STEP", "ACC", "SUBMITTED", "REASON");
  for (const auto& j : reply->list().jobs()) {
    std::string reason = j.reason().size() > 60 ? j.reason().substr(0, 57) + "..." : j.reason();
    char acc[16] = "-";
    if (j.progress().step() > 0) std::snprintf(acc, sizeof acc, "%.3f", j.progress().accuracy());
    std::printf("%-5lld %-22.22s %-10s %-6d %-8s %-4d %-13s %-7s %-19s %s\n", (long long)j.id(), j.name().c_str(),
                State(j), j.ranks(), j.launcher().c_str(), j.attempts(), StepText(j).c_str(), acc,
                Clock(j.submitted_at()).c_str(), reason.c_str());
  }
  if (reply->list().jobs_size() == 0) std::printf("(no jobs)\n");
  return 0;
}

int JobCommands::ShowStatus() {
  auto client = Client();
  if (!client.ok()) return Fail(client.status());
  auto reply = client->Call(JobRequest(job_id_, &proto::Request::mutable_status));
  if (!reply.ok()) return Fail(reply.status());
  if (output_ == "json") std::cout << ToJson(reply->job()) << std::endl;
  else PrintJob(reply->job());
  if (!plot_) return 0;
  plot::PlotOptions options;
  options.format = plot_format_;
  const std::string dir = plot_dir_.empty() ? "plots/job-" + std::to_string(job_id_) : plot_dir_;
  auto images = PlotJobHistory(*client, reply->job(), dir, options);
  if (!images.ok()) {
    std::cerr << "chorus status --plot: " << images.status().message() << std::endl;
    return 7;
  }
  for (const auto& image : *images) std::printf("wrote %s\n", image.c_str());
  return 0;
}

int JobCommands::Watch(int64_t id) {
  auto client = Client();
  if (!client.ok()) return Fail(client.status());
  const bool tty = isatty(STDOUT_FILENO);
  std::string last_line, last_reason;
  int last_attempt = -1;
  auto last_print = std::chrono::steady_clock::now() - std::chrono::hours(1);
  int misses = 0;
  while (true) {
    auto reply = client->Call(JobRequest(id, &proto::Request::mutable_status));
    if (!reply.ok()) {
      // The coordinator may be restarting: keep trying for a while.
      if (reply.status().code() == StatusCode::kUnavailable && ++misses < 12) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      if (tty) std::printf("\n");
      return Fail(reply.status());
    }
    misses = 0;
    const proto::Job& job = reply->job();
    if (job.attempts() != last_attempt || job.reason() != last_reason) {
      if (tty && !last_line.empty()) std::printf("\n");
      if (job.attempts() != last_attempt && job.attempts() > 0)
        std::printf("job %lld: attempt %d (%s)\n", (long long)id, job.attempts(), State(job));
      if (!job.reason().empty() && job.reason() != last_reason) std::printf("job %lld: %s\n", (long long)id,
                                                                            job.reason().c_str());
      last_attempt = job.attempts();
      last_reason = job.reason();
      last_line.clear();
    }
    std::string line = ProgressLine(job);
    auto now = std::chrono::steady_clock::now();
    const bool done = coordinator::IsTerminal(job.state());
    if (tty) {
      if (line != last_line) std::printf("\r%-130s", line.c_str());
    } else if (line != last_line && (done || now - last_print > std::chrono::seconds(5))) {
      std::printf("%s\n", line.c_str());
      last_print = now;
    }
    last_line = line;
    std::fflush(stdout);
    if (done) {
      if (tty) std::printf("\n");
      for (const auto& e : job.evaluations())
        if (e.split() == "test")
          std::printf("job %lld test %s %.4f (%lld examples)\n", (long long)id,
                      e.metric().empty() ? "accuracy" : e.metric().c_str(), e.metric().empty() ? e.accuracy() : e.score(),
                      (long long)e.count());
      if (!job.export_dir().empty()) std::printf("job %lld exported %s\n", (long long)id, job.export_dir().c_str());
      std::printf("job %lld %s%s%s\n", (long long)id, State(job), job.reason().empty() ? "" : ": ",
                  job.reason().c_str());
      return job.state() == proto::SUCCEEDED ? 0 : 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

int JobCommands::Logs() {
  auto client = Client();
  if (!client.ok()) return Fail(client.status());
  int64_t offset = 0;
  while (true) {
    proto::Request request;
    request.mutable_logs()->set_job_id(job_id_);
    request.mutable_logs()->set_offset(offset);
    auto reply = client->Call(request);
    if (!reply.ok()) return Fail(reply.status());
    const proto::Logs& logs = reply->logs();
    std::fwrite(logs.data().data(), 1, logs.data().size(), stdout);
    std::fflush(stdout);
    offset = logs.next_offset();
    if (!logs.data().empty()) continue;  // more may be waiting right away
    if (!follow_ || logs.job_finished()) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

int JobCommands::Cancel() {
  auto client = Client();
  if (!client.ok()) return Fail(client.status());
  auto reply = client->Call(JobRequest(job_id_, &proto::Request::mutable_cancel));
  if (!reply.ok()) return Fail(reply.status());
  const proto::Job& job = reply->job();
  if (job.state() == proto::CANCELLED)
    std::printf("job %lld cancelled\n", (long long)job.id());
  else
    std::printf("job %lld: cancel requested; its ranks are stopping (`chorus watch %lld` follows it)\n",
                (long long)job.id(), (long long)job.id());
  return 0;
}

int JobCommands::Retry() {
  auto client = Client();
  if (!client.ok()) return Fail(client.status());
  proto::Request request;
  request.mutable_retry()->set_job_id(job_id_);
  if (retry_->count("--ranks")) request.mutable_retry()->set_ranks(ranks_);
  auto reply = client->Call(request);
  if (!reply.ok()) return Fail(reply.status());
  std::printf("job %lld queued again (%d rank(s)); it resumes from its latest checkpoint\n",
              (long long)reply->job().id(), reply->job().ranks());
  return 0;
}

}  // namespace chorus::cli
