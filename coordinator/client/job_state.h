// Names and facts of a job's state (proto::JobState), shared by the
// coordinator and its clients (the chorus CLI, the dashboard's API users).
#pragma once

#include "common/proto/job.pb.h"

namespace chorus::coordinator {

const char* JobStateName(proto::JobState state);  // "PENDING", ..., "UNKNOWN"
bool IsTerminal(proto::JobState state);           // SUCCEEDED, FAILED or CANCELLED: it will not change again

}  // namespace chorus::coordinator
