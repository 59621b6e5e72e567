#include "coordinator/training/sbatch_template.h"

#include <set>

namespace chorus::coordinator {

Result<std::string> RenderTemplate(const std::string& text, const std::map<std::string, std::string>& values,
                                   const std::string& template_name) {
  std::string out;
  std::set<std::string> used;
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == std::string::npos)
      return InvalidArgument(template_name + ": unterminated '{{' at offset " + std::to_string(open));
    std::string key = text.substr(open + 2, close - open - 2);
    auto it = values.find(key);
    if (it == values.end()) return InvalidArgument(template_name + ": no value for placeholder {{" + key + "}}");
    out += text.substr(pos, open - pos);
    out += it->second;
    used.insert(key);
    pos = close + 2;
  }
  out += text.substr(pos);
  for (const auto& [key, value] : values)
    if (!used.count(key)) return InvalidArgument(template_name + ": has no placeholder {{" + key + "}}");
  return out;
}

}  // namespace chorus::coordinator
