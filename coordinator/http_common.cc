#include "coordinator/http_common.h"

#include <nlohmann/json.hpp>

#include "common/net/http_server.h"

namespace chorus::coordinator {

void JsonError(net::HttpResponse& res, int status, const std::string& message) {
  res.status = status;
  if (status == 429) res.headers.emplace_back("Retry-After", "1");
  res.Set(nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
          "application/json");
}

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

int HttpStatusOf(const std::string& code_name) {
  return code_name == "OK" ? 200 : HttpStatusOf(Status(StatusCodeFromName(code_name), code_name));
}

Result<Principal> BearerPrincipal(const Credentials& credentials, const std::string& authorization) {
  const std::string prefix = "Bearer ";
  if (authorization.rfind(prefix, 0) != 0)
    return Unauthenticated(authorization.empty() ? "missing 'Authorization: Bearer TOKEN'"
                                                 : "the Authorization header is not 'Bearer TOKEN'");
  return credentials.Authenticate(authorization.substr(prefix.size()));
}

Status BearerPermit(const Credentials& credentials, const std::string& authorization, Action action,
                    const Target& target) {
  ASSIGN_OR_RETURN(Principal who, BearerPrincipal(credentials, authorization));
  return Permit(who, action, target);
}

}  // namespace chorus::coordinator
