// ServingHistory: what the dashboard plots of each served model over time,
// made from successive broker snapshots. Each Add() after the first turns the
// counters' growth since the previous snapshot into one sample per model:
// requests and errors per second (errors by reply code), latency percentiles
// (p50/p90/p99 of the requests answered in the interval, interpolated within
// the broker's histogram buckets like Prometheus' histogram_quantile), and
// the queue depth, ongoing requests and workers at that moment. It keeps the
// last `capacity` samples per model; a model absent from a snapshot keeps
// its past samples until they age out of every other model's window too.
// Pure (the caller supplies times and snapshots) and thread-safe.
#pragma once

#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "coordinator/serving/broker.h"

namespace chorus::coordinator {

struct ServingSample {
  double time = 0;  // unix seconds
  double requests_per_s = 0;
  double errors_per_s = 0;
  std::map<std::string, int64_t> errors;  // reply code -> requests in the interval (not OK)
  std::optional<double> p50_ms, p90_ms, p99_ms;  // none when nothing was answered in the interval
  int queued = 0;
  int ongoing = 0;
  int workers = 0;
};

// The q-quantile (0 < q < 1) in seconds of the latencies counted in
// `counts` (per bucket of Histogram::kBounds, last +Inf), linear within the
// bucket; the +Inf bucket answers its lower bound. nullopt for no counts.
std::optional<double> HistogramQuantile(const std::array<int64_t, 17>& counts, double q);

class ServingHistory {
 public:
  explicit ServingHistory(size_t capacity = 600) : capacity_(capacity) {}

  void Add(double time, const BrokerSnapshot& snapshot);

  // Samples newer than `since`, per model: {"model": [sample, ...]}.
  nlohmann::json Json(double since = 0) const;
  std::map<std::string, std::deque<ServingSample>> Samples() const;

 private:
  struct Previous {
    double time = 0;
    ModelStats stats;
  };

  size_t capacity_;
  mutable std::mutex mu_;
  std::map<std::string, Previous> previous_;
  std::map<std::string, std::deque<ServingSample>> samples_;
};

}  // namespace chorus::coordinator
