#include "common/net/multipart.h"

#include <cctype>

namespace chorus::net {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The value of `key` in "type; key=value; key2="quoted"" ("" when absent).
std::string Parameter(std::string_view header, std::string_view key) {
  size_t pos = header.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = header.substr(pos + 1);
    const size_t next = rest.find(';');
    std::string_view item = Trim(rest.substr(0, next));
    const size_t eq = item.find('=');
    if (eq != std::string_view::npos && Lower(Trim(item.substr(0, eq))) == key) {
      std::string_view value = Trim(item.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
    pos = next == std::string_view::npos ? next : pos + 1 + next;
  }
  return "";
}

}  // namespace

bool IsMultipartFormData(std::string_view content_type) {
  return Lower(Trim(content_type.substr(0, content_type.find(';')))) == "multipart/form-data";
}

Result<std::vector<MultipartPart>> ParseMultipart(std::string_view content_type, std::string_view body) {
  if (!IsMultipartFormData(content_type)) return InvalidArgument("the Content-Type is not multipart/form-data");
  const std::string boundary = Parameter(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 70)
    return InvalidArgument("multipart/form-data needs a boundary of 1 to 70 characters");
  const std::string delimiter = "--" + boundary;
  // The first delimiter may come after a preamble; the others follow a CRLF.
  size_t pos = body.rfind(delimiter, 0) == 0 ? 0 : body.find("\r\n" + delimiter);
  if (pos == std::string_view::npos) return InvalidArgument("the multipart body has no boundary line");
  if (pos != 0) pos += 2;
  std::vector<MultipartPart> parts;
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n")
      return InvalidArgument("multipart part " + std::to_string(parts.size() + 1) + ": no line break after the boundary");
    pos += 2;
    // A part without headers starts with its blank line.
    const size_t headers_end = body.substr(pos, 2) == "\r\n" ? pos - 2 : body.find("\r\n\r\n", pos);
    const size_t next = body.find("\r\n" + delimiter, pos);
    if (next == std::string_view::npos)
      return InvalidArgument("multipart part " + std::to_string(parts.size() + 1) + " has no closing boundary");
    if (headers_end == std::string_view::npos || headers_end > next)
      return InvalidArgument("multipart part " + std::to_string(parts.size() + 1) + " has no blank line after its headers");
    MultipartPart part;
    std::string_view headers = body.substr(pos, headers_end - pos);
    while (!headers.empty()) {
      const size_t eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view() : headers.substr(eol + 2);
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string key = Lower(Trim(line.substr(0, colon)));
      const std::string_view value = Trim(line.substr(colon + 1));
      if (key == "content-disposition") {
        part.name = Parameter(value, "name");
        part.filename = Parameter(value, "filename");
      } else if (key == "content-type") {
        part.content_type = std::string(value);
      }
    }
    part.content = std::string(body.substr(headers_end + 4, next - headers_end - 4));
    parts.push_back(std::move(part));
    pos = next + 2;
  }
}

}  // namespace chorus::net
