// What the coordinator's HTTP faces (the v2 gateway, the dashboard) share:
// the HTTP status for a Status, the JSON error body, and the bearer-token
// check (Credentials, Permit).
#pragma once

#include <memory>
#include <string>

#include "common/util/status.h"
#include "coordinator/access.h"
#include "coordinator/credentials.h"

namespace chorus::net {
struct HttpResponse;
}

namespace chorus::coordinator {

// TLS for an HTTP listener: PEM certificate (chain) and private key files.
// Both empty: plain HTTP.
struct TlsFiles {
  std::string cert;
  std::string key;
  bool enabled() const { return !cert.empty(); }
};

// 127.0.0.0/8, ::1 or localhost: a listener there is reachable from this
// host only. (Inline: the config reader, in the CLI's library, uses it too.)
inline bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

// 200 OK, 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND,
// 409 FAILED_PRECONDITION, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE,
// 504 DEADLINE_EXCEEDED, else 500.
int HttpStatusOf(const Status& status);
// The same for a Status code name ("NOT_FOUND"), as replies carry it.
int HttpStatusOf(const std::string& code_name);

// Makes `res` the error reply: `status` and {"error": message} (bytes that
// are not UTF-8 become U+FFFD), with Retry-After on 429. It fits
// net::HttpServerOptions::error too.
void JsonError(net::HttpResponse& res, int status, const std::string& message);

// The principal whose token `authorization` (the Authorization header's
// value, "Bearer TOKEN") carries; UNAUTHENTICATED (401) otherwise.
Result<Principal> BearerPrincipal(const Credentials& credentials, const std::string& authorization);
// The same, and its role may do `action` on `target`: else PERMISSION_DENIED (403).
Status BearerPermit(const Credentials& credentials, const std::string& authorization, Action action,
                    const Target& target = {});

}  // namespace chorus::coordinator
