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

}  // namespace chorus::coordinator
