// CoordinatorReporter: how rank 0 of a job the coordinator launched talks
// back to it. Every step, evaluation and checkpoint becomes a WorkerReport
// (common/proto/job.proto) on a ZeroMQ DEALER socket, and a heartbeat is sent
// from a background thread every `heartbeat_interval` (also while the dataset
// loads, before the first step). Sending never blocks training: while the
// coordinator is away, reports queue up to a bound and the oldest are dropped
// (the next report supersedes them). The link is a net::DealerChannel, like
// a serving worker's. Every event is also passed to `inner`
// (the log). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/net/curve.h"
#include "worker/train/progress.h"

namespace chorus::net {
class DealerChannel;
}
namespace chorus::proto {
class WorkerReport;
}

namespace chorus::train {

// Where the coordinator is and which attempt this process belongs to.
struct CoordinatorLink {
  std::string endpoint;  // CHORUS_COORDINATOR
  std::string token;     // CHORUS_TOKEN
  int64_t job_id = 0;    // CHORUS_JOB_ID
  int attempt = 0;       // CHORUS_ATTEMPT
  std::chrono::milliseconds heartbeat_interval{2000};  // CHORUS_HEARTBEAT_MS
  net::CurveClient curve;  // CHORUS_CURVE_SERVER_KEY, _PUBLIC_KEY, _SECRET_KEY
};

// std::nullopt when this process was not started by a coordinator.
std::optional<CoordinatorLink> CoordinatorLinkFromEnvironment();

class CoordinatorReporter : public ProgressReporter {
 public:
  CoordinatorReporter(CoordinatorLink link, ProgressReporter* inner, int world_size);
  ~CoordinatorReporter() override;  // flushes for up to one second

  void OnStep(const StepProgress& p) override;
  void OnEvaluation(int64_t step, const std::string& split, const tasks::TaskReport& report) override;
  void OnCheckpoint(int64_t step, const std::string& path) override;
  void OnExport(const std::string& export_dir);

 private:
  void Send(proto::WorkerReport& report);
  void HeartbeatLoop();

  CoordinatorLink link_;
  ProgressReporter* inner_;
  int world_size_;
  std::mutex mutex_;  // guards channel_
  std::unique_ptr<net::DealerChannel> channel_;
  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread heartbeat_;
};

}  // namespace chorus::train
