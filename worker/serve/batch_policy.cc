#include "worker/serve/batch_policy.h"

#include <algorithm>
#include <limits>

namespace chorus::serve {

Status ValidateBatchPolicy(const BatchPolicyOptions& o) {
  if (o.max_batch_size < 1) return InvalidArgument("max_batch_size must be at least 1");
  if (o.max_queue_delay.count() < 0) return InvalidArgument("max_queue_delay must not be negative");
  for (int p : o.preferred_sizes)
    if (p < 1 || p > o.max_batch_size)
      return InvalidArgument("preferred batch size " + std::to_string(p) + " is outside [1, max_batch_size " +
                             std::to_string(o.max_batch_size) + "]");
  return Status::Ok();
}

BatchDecision DecideBatch(const BatchPolicyOptions& o, int queued, std::chrono::microseconds oldest_waited) {
  constexpr auto kForever = std::chrono::microseconds(std::numeric_limits<int64_t>::max() / 2);
  if (queued <= 0) return {0, kForever};
  if (queued >= o.max_batch_size) return {o.max_batch_size, {}};
  int largest_preferred = 0, largest_fitting = 0;
  for (int p : o.preferred_sizes) {
    largest_preferred = std::max(largest_preferred, p);
    if (p <= queued) largest_fitting = std::max(largest_fitting, p);
  }
  if (largest_preferred > 0 && largest_fitting == largest_preferred) return {largest_preferred, {}};
  if (oldest_waited >= o.max_queue_delay) return {largest_fitting > 0 ? largest_fitting : queued, {}};
  return {0, o.max_queue_delay - oldest_waited};
}

}  // namespace chorus::serve
