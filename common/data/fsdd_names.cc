#include "common/data/fsdd_names.h"

#include <algorithm>
#include <cctype>

#include "common/data/data_internal.h"

namespace chorus::data {
namespace {

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

}  // namespace

bool ParseFsddName(const std::string& file, FsddName* out) {
  if (!internal::EndsWithNoCase(file, ".wav")) return false;
  const std::string stem = file.substr(0, file.size() - 4);
  const size_t first = stem.find('_');
  const size_t last = stem.rfind('_');
  if (first == std::string::npos || last == first) return false;
  const std::string digit = stem.substr(0, first);
  const std::string speaker = stem.substr(first + 1, last - first - 1);
  const std::string index = stem.substr(last + 1);
  if (digit.size() != 1 || !AllDigits(digit) || speaker.empty() || !AllDigits(index) || index.size() > 9) return false;
  out->digit = digit[0] - '0';
  out->speaker = speaker;
  out->index = std::stoll(index);
  return true;
}

std::string FsddRecordingsDir(const std::string& root) {
  const std::string recordings = internal::JoinPath(root, "recordings");
  return internal::IsDirectory(recordings) ? recordings : root;
}

}  // namespace chorus::data
