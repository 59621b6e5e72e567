#include "coordinator/training/launcher.h"

#include <fstream>

namespace chorus::coordinator {

std::optional<int> ReadExitFile(const std::string& path) {
  std::ifstream in(path);
  int code = 0;
  if (!(in >> code)) return std::nullopt;
  return code;
}

}  // namespace chorus::coordinator
