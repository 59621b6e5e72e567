// The names clients choose for things the coordinator keeps (deployments,
// enrolled speakers): they become URL path segments, file and folder names
// under the state directory and keys in the job store, so they are held to
// one safe alphabet: 1-64 characters of [A-Za-z0-9._-], not starting with
// '.' (no "..", no hidden files). Model versions are positive integers written
// in decimal (URL segments, repository folder names). Pure; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/util/status.h"

namespace chorus::coordinator {

// InvalidArgument naming `what` ("deployment", "speaker") and the rule, or OK.
Status ValidateName(const std::string& what, const std::string& name);

// The version `text` names (1 to 18 decimal digits, above 0), or 0 if it names none.
int64_t ParseVersion(const std::string& text);

}  // namespace chorus::coordinator
