// A deployment's scaling policy (proto::ScalePolicy): what one gets when its
// user sets nothing, and what makes one valid. Shared by the coordinator's
// autoscaler and repository API and by `chorus deploy`.
#pragma once

#include "common/proto/job.pb.h"
#include "common/util/status.h"

namespace chorus::coordinator {

// min 1, max 2 workers, 4 ongoing requests per worker, up after 1 s, down after 30 s.
proto::ScalePolicy DefaultScalePolicy();
// InvalidArgument naming the first bound that does not hold.
Status ValidateScalePolicy(const proto::ScalePolicy& policy);

}  // namespace chorus::coordinator
