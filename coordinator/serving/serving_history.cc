#include "coordinator/serving/serving_history.h"

#include <algorithm>
#include <iterator>

namespace chorus::coordinator {

std::optional<double> HistogramQuantile(const std::array<int64_t, 17>& counts, double q) {
  int64_t total = 0;
  for (int64_t c : counts) total += std::max<int64_t>(c, 0);
  if (total == 0) return std::nullopt;
  const double rank = q * static_cast<double>(total);
  double below = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double here = static_cast<double>(std::max<int64_t>(counts[i], 0));
    if (here > 0 && below + here >= rank) {
      const double lower = i == 0 ? 0.0 : Histogram::kBounds[i - 1];
      if (i == Histogram::kBounds.size()) return lower;  // +Inf: the last finite bound
      const double upper = Histogram::kBounds[i];
      return lower + (upper - lower) * std::clamp((rank - below) / here, 0.0, 1.0);
    }
    below += here;
  }
  return Histogram::kBounds.back();
}

namespace {

std::optional<double> Ms(std::optional<double> seconds) {
  if (!seconds) return std::nullopt;
  return *seconds * 1000.0;
}

nlohmann::json OrNull(std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

}  // namespace

void ServingHistory::Add(double time, const BrokerSnapshot& snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [model, stats] : snapshot.models) {
    auto prev = previous_.find(model);
    if (prev != previous_.end() && time > prev->second.time) {
      const ModelStats& before = prev->second.stats;
      const double dt = time - prev->second.time;
      ServingSample s;
      s.time = time;
      int64_t answered = 0, errors = 0;
      for (const auto& [code, count] : stats.outcomes) {
        auto was = before.outcomes.find(code);
        // A counter that went down (a restarted broker) counts from zero.
        int64_t delta = count - (was == before.outcomes.end() ? 0 : was->second);
        if (delta < 0) delta = count;
        answered += delta;
        if (code != "OK" && delta > 0) {
          s.errors[code] = delta;
          errors += delta;
        }
      }
      s.requests_per_s = static_cast<double>(answered) / dt;
      s.errors_per_s = static_cast<double>(errors) / dt;
      std::array<int64_t, 17> counts{};
      bool reset = stats.total.count < before.total.count;
      for (size_t i = 0; i < counts.size(); ++i)
        counts[i] = reset ? stats.total.counts[i] : stats.total.counts[i] - before.total.counts[i];
      s.p50_ms = Ms(HistogramQuantile(counts, 0.50));
      s.p90_ms = Ms(HistogramQuantile(counts, 0.90));
      s.p99_ms = Ms(HistogramQuantile(counts, 0.99));
      s.queued = stats.queued;
      s.ongoing = stats.ongoing;
      s.workers = stats.workers;
      auto& list = samples_[model];
      list.push_back(std::move(s));
      while (list.size() > capacity_) list.pop_front();
    }
    previous_[model] = {time, stats};
  }
  // A model the broker no longer knows has no history.
  for (auto it = samples_.begin(); it != samples_.end();)
    it = snapshot.models.count(it->first) ? std::next(it) : samples_.erase(it);
  for (auto it = previous_.begin(); it != previous_.end();)
    it = snapshot.models.count(it->first) ? std::next(it) : previous_.erase(it);
}

nlohmann::json ServingHistory::Json(double since) const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [model, list] : samples_) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& s : list) {
      if (s.time <= since) continue;
      rows.push_back({{"time", s.time},
                      {"requests_per_s", s.requests_per_s},
                      {"errors_per_s", s.errors_per_s},
                      {"errors", s.errors},
                      {"p50_ms", OrNull(s.p50_ms)},
                      {"p90_ms", OrNull(s.p90_ms)},
                      {"p99_ms", OrNull(s.p99_ms)},
                      {"queued", s.queued},
                      {"ongoing", s.ongoing},
                      {"workers", s.workers}});
    }
    out[model] = std::move(rows);
  }
  return out;
}

std::map<std::string, std::deque<ServingSample>> ServingHistory::Samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_;
}

}  // namespace chorus::coordinator
