#include "worker/train/coordinator_reporter.h"

#include <unistd.h>

#include <cstdlib>

#include <spdlog/spdlog.h>

#include "common/net/dealer_channel.h"
#include "common/net/zmq_channel.h"
#include "common/proto/job.pb.h"

namespace chorus::train {

namespace {

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

std::optional<CoordinatorLink> CoordinatorLinkFromEnvironment() {
  CoordinatorLink link;
  link.endpoint = Env("CHORUS_COORDINATOR");
  if (link.endpoint.empty() || Env("CHORUS_JOB_ID").empty()) return std::nullopt;
  link.token = Env("CHORUS_TOKEN");
  link.job_id = std::atoll(Env("CHORUS_JOB_ID").c_str());
  link.attempt = std::atoi(Env("CHORUS_ATTEMPT").c_str());
  if (int ms = std::atoi(Env("CHORUS_HEARTBEAT_MS").c_str()); ms > 0)
    link.heartbeat_interval = std::chrono::milliseconds(ms);
  if (auto curve = net::CurveClientFromEnvironment(); curve.ok()) {
    link.curve = *curve;
  } else {
    spdlog::error("cannot reach the coordinator: {}", curve.status().message());
  }
  return link;
}

CoordinatorReporter::CoordinatorReporter(CoordinatorLink link, ProgressReporter* inner, int world_size)
    : link_(std::move(link)), inner_(inner), world_size_(world_size) {
  // Never reconnects (liveness 0): ZeroMQ reconnects the TCP link by itself,
  // and a fresh socket would drop the reports queued for the coordinator.
  // Sends never wait (send_timeout 0): a full queue drops the report.
  channel_ = std::make_unique<net::DealerChannel>(net::DealerOptions{
      link_.endpoint, "", link_.curve, {link_.heartbeat_interval, std::chrono::milliseconds(0)},
      std::chrono::milliseconds(0), /*send_high_water_mark=*/1000, std::chrono::milliseconds(1000)});
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
}

CoordinatorReporter::~CoordinatorReporter() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  heartbeat_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  channel_.reset();  // linger: pending reports get one second to leave
}

void CoordinatorReporter::Send(proto::WorkerReport& report) {
  report.set_job_id(link_.job_id);
  report.set_attempt(link_.attempt);
  report.set_rank(0);
  report.set_world_size(world_size_);
  report.set_pid(static_cast<int>(getpid()));
  proto::Request request;
  request.set_token(link_.token);
  *request.mutable_report() = report;
  std::lock_guard<std::mutex> lock(mutex_);
  // Replies (acks or refusals) are read and dropped; a refusal is logged.
  while (true) {
    auto reply_frames = channel_->Receive();
    if (!reply_frames.ok() && reply_frames.status().code() == StatusCode::kUnavailable) break;
    if (!reply_frames.ok()) continue;  // malformed: consumed
    if (!reply_frames->has_value()) break;
    proto::Reply reply;
    if (net::ParseProto((*reply_frames)->header, &reply).ok() && reply.code() != "OK")
      spdlog::warn("coordinator refused a report: {} {}", reply.code(), reply.error());
  }
  if (Status s = channel_->Send(request); !s.ok()) spdlog::debug("report to {} dropped: {}", link_.endpoint, s.message());
}

void CoordinatorReporter::HeartbeatLoop() {
  std::unique_lock<std::mutex> lock(stop_mutex_);
  while (!stop_) {
    lock.unlock();
    bool beat = false;
    std::chrono::steady_clock::duration wait;
    {
      std::lock_guard<std::mutex> channel_lock(mutex_);
      const auto now = std::chrono::steady_clock::now();
      beat = channel_->Poll(now) == net::DealerChannel::Event::kBeat;
      wait = channel_->UntilDue(now);
    }
    if (beat) {
      proto::WorkerReport report;
      report.set_heartbeat(true);
      Send(report);
    }
    lock.lock();
    stop_cv_.wait_for(lock, wait, [this] { return stop_; });
  }
}

void CoordinatorReporter::OnStep(const StepProgress& p) {
  if (inner_) inner_->OnStep(p);
  proto::WorkerReport report;
  proto::Progress* out = report.mutable_step();
  out->set_step(p.step);
  out->set_total_steps(p.total_steps);
  out->set_epoch(p.epoch);
  out->set_loss(p.loss);
  out->set_accuracy(p.accuracy);
  out->set_learning_rate(p.learning_rate);
  out->set_samples_per_second(p.samples_per_second);
  out->set_eta_seconds(p.eta_seconds);
  out->set_time(UnixNow());
  Send(report);
}

void CoordinatorReporter::OnEvaluation(int64_t step, const std::string& split, const tasks::TaskReport& r) {
  if (inner_) inner_->OnEvaluation(step, split, r);
  proto::WorkerReport report;
  proto::Evaluation* out = report.mutable_evaluation();
  out->set_step(step);
  out->set_split(split);
  out->set_metric(r.score_name);
  out->set_score(r.score);
  if (r.details.contains("accuracy")) out->set_accuracy(r.details["accuracy"].get<double>());
  if (r.details.contains("classes") && !r.details["classes"].empty()) {
    double f1 = 0;
    for (const auto& c : r.details["classes"]) f1 += c.value("f1", 0.0);
    out->set_macro_f1(f1 / static_cast<double>(r.details["classes"].size()));
  }
  out->set_count(r.count);
  out->set_time(UnixNow());
  Send(report);
}

void CoordinatorReporter::OnCheckpoint(int64_t step, const std::string& path) {
  if (inner_) inner_->OnCheckpoint(step, path);
  proto::WorkerReport report;
  report.set_checkpoint(path);
  Send(report);
}

void CoordinatorReporter::OnExport(const std::string& export_dir) {
  proto::WorkerReport report;
  report.set_export_dir(export_dir);
  Send(report);
}

}  // namespace chorus::train
