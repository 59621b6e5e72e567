// The shared secret every job-control (and later inference) request must
// carry. Taken from the configuration or CHORUS_TOKEN; otherwise generated
// on first start (32 random bytes, hex) and stored in STATE_DIR/token with
// mode 0600, where the CLI on this host finds it. With it, the secret
// primitives the coordinator's credentials are built from. Thread-safe.
#pragma once

#include <string>

#include "common/util/status.h"

namespace chorus::coordinator {

Result<std::string> LoadOrCreateToken(const std::string& configured, const std::string& state_dir);

// Constant-time comparison, so the answer time does not reveal a prefix.
bool TokensEqual(const std::string& a, const std::string& b);

// `bytes` random bytes (OpenSSL's CSPRNG) as hex; hex SHA-256 and
// HMAC-SHA256 (Credentials hashes issued secrets and derives tokens with them).
Result<std::string> RandomHex(int bytes);
std::string Sha256Hex(const std::string& data);
std::string HmacSha256Hex(const std::string& key, const std::string& message);

}  // namespace chorus::coordinator
