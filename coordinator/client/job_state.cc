#include "coordinator/client/job_state.h"

namespace chorus::coordinator {

const char* JobStateName(proto::JobState state) {
  switch (state) {
    case proto::PENDING: return "PENDING";
    case proto::RUNNING: return "RUNNING";
    case proto::SUCCEEDED: return "SUCCEEDED";
    case proto::FAILED: return "FAILED";
    case proto::CANCELLED: return "CANCELLED";
    default: return "UNKNOWN";
  }
}

bool IsTerminal(proto::JobState state) {
  return state == proto::SUCCEEDED || state == proto::FAILED || state == proto::CANCELLED;
}

}  // namespace chorus::coordinator
