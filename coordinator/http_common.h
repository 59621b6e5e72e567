// What the coordinator's HTTP faces (the v2 gateway, the dashboard) share:
// the HTTP status for a Status, and the bearer-token check.
#pragma once

#include <string>

#include "common/util/status.h"

namespace chorus::coordinator {

// 200 OK, 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 404 NOT_FOUND,
// 409 FAILED_PRECONDITION, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE,
// 504 DEADLINE_EXCEEDED, else 500.
int HttpStatusOf(const Status& status);
// The same for a Status code name ("NOT_FOUND"), as replies carry it.
int HttpStatusOf(const std::string& code_name);

// "" when `authorization` (the Authorization header's value) is
// "Bearer TOKEN" with the right token (compared in constant time); else why not.
std::string BearerRefusal(const std::string& token, const std::string& authorization);

}  // namespace chorus::coordinator
