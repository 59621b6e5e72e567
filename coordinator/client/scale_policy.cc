#include "coordinator/client/scale_policy.h"

#include <string>

namespace chorus::coordinator {

proto::ScalePolicy DefaultScalePolicy() {
  proto::ScalePolicy p;
  p.set_min_workers(1);
  p.set_max_workers(2);
  p.set_target_ongoing(4);
  p.set_scale_up_delay_s(1);
  p.set_scale_down_delay_s(30);
  return p;
}

Status ValidateScalePolicy(const proto::ScalePolicy& p) {
  if (p.min_workers() < 0) return InvalidArgument("min workers must not be negative");
  if (p.max_workers() < 1) return InvalidArgument("max workers must be at least 1");
  if (p.min_workers() > p.max_workers())
    return InvalidArgument("min workers (" + std::to_string(p.min_workers()) + ") above max workers (" +
                           std::to_string(p.max_workers()) + ")");
  if (!(p.target_ongoing() > 0)) return InvalidArgument("target ongoing requests per worker must be positive");
  if (p.scale_up_delay_s() < 0 || p.scale_down_delay_s() < 0) return InvalidArgument("delays must not be negative");
  return Status::Ok();
}

}  // namespace chorus::coordinator
