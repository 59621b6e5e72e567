// FormatNumber: a double as people write it in messages ("0.5", "1e-06",
// "16000"), the shortest form std::ostream gives. Thread-safe.
#pragma once

#include <sstream>
#include <string>

namespace chorus {

inline std::string FormatNumber(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace chorus
