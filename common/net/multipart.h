// ParseMultipart: the parts of a multipart/form-data body (RFC 7578), as an
// HTTP client sends several files in one request. Strict: a body that does
// not follow the boundary grammar is INVALID_ARGUMENT naming what is wrong,
// never a guess. Parts keep their bytes exactly (binary audio included).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/util/status.h"

namespace chorus::net {

struct MultipartPart {
  std::string name;      // Content-Disposition: form-data; name="..."
  std::string filename;  // its filename="...", "" when absent
  std::string content_type;
  std::string content;
};

// True when `content_type` is multipart/form-data (any parameters).
bool IsMultipartFormData(std::string_view content_type);

// `content_type`: the request's Content-Type header, which names the boundary.
Result<std::vector<MultipartPart>> ParseMultipart(std::string_view content_type, std::string_view body);

}  // namespace chorus::net
