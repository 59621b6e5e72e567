#include "coordinator/serving/metrics_text.h"

#include <cstdio>
#include <sstream>

namespace chorus::coordinator {

namespace {

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

void RenderHistogram(std::ostringstream& out, const std::string& name, const std::string& model, const Histogram& h) {
  int64_t cumulative = 0;
  for (size_t i = 0; i < Histogram::kBounds.size(); ++i) {
    cumulative += h.counts[i];
    out << name << "_bucket{model=\"" << model << "\",le=\"" << Number(Histogram::kBounds[i]) << "\"} " << cumulative
        << "\n";
  }
  cumulative += h.counts.back();
  out << name << "_bucket{model=\"" << model << "\",le=\"+Inf\"} " << cumulative << "\n";
  out << name << "_sum{model=\"" << model << "\"} " << Number(h.sum) << "\n";
  out << name << "_count{model=\"" << model << "\"} " << h.count << "\n";
}

}  // namespace

std::string RenderMetrics(const BrokerSnapshot& s) {
  std::ostringstream out;
  out << "# HELP chorus_inference_requests_total Inference requests answered, by model and outcome.\n"
         "# TYPE chorus_inference_requests_total counter\n";
  for (const auto& [model, m] : s.models)
    for (const auto& [code, n] : m.outcomes)
      out << "chorus_inference_requests_total{model=\"" << model << "\",outcome=\"" << code << "\"} " << n << "\n";
  const struct {
    const char* name;
    const char* help;
    const Histogram ModelStats::*field;
  } histograms[] = {
      {"chorus_inference_queue_seconds", "Time a request waited in the worker's batcher.", &ModelStats::queue},
      {"chorus_inference_compute_seconds", "Front end and forward pass of the request's batch.", &ModelStats::compute},
      {"chorus_inference_overhead_seconds", "Broker, network and framing: total minus queue and compute.",
       &ModelStats::overhead},
      {"chorus_inference_seconds", "From the broker receiving a request to its reply.", &ModelStats::total},
      {"chorus_stream_chunk_seconds", "A streaming session's chunk: from the broker receiving it to its reply.",
       &ModelStats::chunk},
  };
  for (const auto& h : histograms) {
    out << "# HELP " << h.name << " " << h.help << "\n# TYPE " << h.name << " histogram\n";
    for (const auto& [model, m] : s.models) RenderHistogram(out, h.name, model, m.*(h.field));
  }
  out << "# HELP chorus_workers Inference workers serving a model (not draining).\n# TYPE chorus_workers gauge\n";
  for (const auto& [model, m] : s.models) out << "chorus_workers{model=\"" << model << "\"} " << m.workers << "\n";
  out << "# HELP chorus_queue_depth Requests waiting in the broker for a worker.\n# TYPE chorus_queue_depth gauge\n";
  for (const auto& [model, m] : s.models) out << "chorus_queue_depth{model=\"" << model << "\"} " << m.queued << "\n";
  out << "# HELP chorus_ongoing_requests Requests queued or at workers.\n# TYPE chorus_ongoing_requests gauge\n";
  for (const auto& [model, m] : s.models)
    out << "chorus_ongoing_requests{model=\"" << model << "\"} " << m.ongoing << "\n";
  out << "# HELP chorus_stream_sessions Streaming sessions open.\n# TYPE chorus_stream_sessions gauge\n";
  for (const auto& [model, m] : s.models)
    out << "chorus_stream_sessions{model=\"" << model << "\"} " << m.sessions << "\n";
  out << "# HELP chorus_stream_sessions_total Streaming sessions by what became of them: opened, closed (their end "
         "chunk answered, or started again), expired (idle).\n# TYPE chorus_stream_sessions_total counter\n";
  for (const auto& [model, m] : s.models) {
    for (const auto& [outcome, n] : {std::pair<const char*, int64_t>{"opened", m.sessions_opened},
                                     {"closed", m.sessions_closed},
                                     {"expired", m.sessions_expired}})
      out << "chorus_stream_sessions_total{model=\"" << model << "\",outcome=\"" << outcome << "\"} " << n << "\n";
  }
  return out.str();
}

}  // namespace chorus::coordinator
