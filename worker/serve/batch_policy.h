// The dynamic batcher's policy as one pure function (after Triton's dynamic
// batcher): given how many requests wait and how long the oldest has waited,
// decide to run a batch now (and of what size) or to wait, and for how long.
//
//  - A full batch (max_batch_size) runs at once.
//  - With preferred sizes, a batch of the largest preferred size runs as soon
//    as that many requests wait.
//  - Otherwise the batcher waits for more requests, but never lets the oldest
//    wait longer than max_queue_delay; then it runs what it has (at most
//    max_batch_size), cut down to the largest preferred size that fits, if any.
//  - max_queue_delay 0 (the default): whatever waits runs at once. Under load
//    requests pile up while a batch runs, so the next batch is full anyway;
//    at low load nothing waits for company that is not coming.
// No sockets, no clocks, no state: callers pass the facts in. Thread-safe.
#pragma once

#include <chrono>
#include <vector>

#include "common/util/status.h"

namespace chorus::serve {

struct BatchPolicyOptions {
  int max_batch_size = 8;
  std::chrono::microseconds max_queue_delay{0};  // Triton's default: batch what already waits
  std::vector<int> preferred_sizes;  // each in [1, max_batch_size]
};

Status ValidateBatchPolicy(const BatchPolicyOptions& options);

struct BatchDecision {
  int take = 0;  // > 0: run a batch of this many (the oldest first) now
  std::chrono::microseconds wait{0};  // take == 0: ask again after this long (or when a request arrives)
};

BatchDecision DecideBatch(const BatchPolicyOptions& options, int queued, std::chrono::microseconds oldest_waited);

}  // namespace chorus::serve
