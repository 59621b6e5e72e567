// The shared secret every job-control (and later inference) request must
// carry. Taken from the configuration or CHORUS_TOKEN; otherwise generated
// on first start (32 random bytes, hex) and stored in STATE_DIR/token with
// mode 0600, where the CLI on this host finds it. Thread-safe.
#pragma once

#include <string>

#include "common/util/status.h"

namespace chorus::coordinator {

Result<std::string> LoadOrCreateToken(const std::string& configured, const std::string& state_dir);

// Constant-time comparison, so the answer time does not reveal a prefix.
bool TokensEqual(const std::string& a, const std::string& b);

}  // namespace chorus::coordinator
