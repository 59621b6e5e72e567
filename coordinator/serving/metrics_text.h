// Renders the broker's counters as Prometheus text exposition (format
// 0.0.4): requests by model and outcome, latency histograms split into queue,
// compute and overhead (broker + network + framing), workers per model and
// queue depth. Pure function, thread-safe.
#pragma once

#include <string>

#include "coordinator/serving/broker.h"

namespace chorus::coordinator {

std::string RenderMetrics(const BrokerSnapshot& snapshot);

}  // namespace chorus::coordinator
