#include "coordinator/http_common.h"

#include "coordinator/token.h"

namespace chorus::coordinator {

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
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

std::string BearerRefusal(const std::string& token, const std::string& authorization) {
  const std::string prefix = "Bearer ";
  if (authorization.rfind(prefix, 0) == 0 && TokensEqual(token, authorization.substr(prefix.size()))) return "";
  return authorization.empty() ? "missing 'Authorization: Bearer TOKEN'" : "wrong token";
}

}  // namespace chorus::coordinator
