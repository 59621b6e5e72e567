#include "coordinator/names.h"

namespace chorus::coordinator {

Status ValidateName(const std::string& what, const std::string& name) {
  const std::string rule = "a " + what + " name has 1 to 64 characters: letters, digits, '.', '_' and '-', and does "
                           "not start with '.'";
  if (name.empty() || name.size() > 64 || name.front() == '.') return InvalidArgument(rule);
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return InvalidArgument(rule);
  }
  return Status::Ok();
}

int64_t ParseVersion(const std::string& text) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) return 0;
  return std::stoll(text);
}

}  // namespace chorus::coordinator
