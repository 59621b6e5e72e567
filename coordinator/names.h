// The names clients choose for things the coordinator keeps (deployments,
// enrolled speakers): they become URL path segments, file and folder names
// under the state directory and keys in the job store, so they are held to
// one safe alphabet: 1-64 characters of [A-Za-z0-9._-], not starting with
// '.' (no "..", no hidden files). Pure; thread-safe.
#pragma once

#include <string>

#include "common/util/status.h"

namespace chorus::coordinator {

// InvalidArgument naming `what` ("deployment", "speaker") and the rule, or OK.
Status ValidateName(const std::string& what, const std::string& name);

}  // namespace chorus::coordinator
