#include "common/data/segments_dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "common/data/data_internal.h"
#include "common/data/speech_commands.h"
#include "common/util/fs.h"

namespace chorus::data {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxSeconds = 7 * 24 * 3600.0;  // a week: anything later is a typo

Result<double> ParseSeconds(const std::string& text, const std::string& where, const char* what) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  while (used < text.size() && std::isspace(static_cast<unsigned char>(text[used]))) ++used;
  if (used == 0 || used != text.size() || !std::isfinite(v) || v < 0 || v > kMaxSeconds)
    return InvalidArgument(where + ": " + what + " '" + text + "' is not a time in seconds");
  return v;
}

std::vector<std::string> SplitFields(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  if (sep == ' ') {
    while (in >> field) out.push_back(field);
  } else {
    while (std::getline(in, field, sep)) {
      const size_t b = field.find_first_not_of(" \t\r"), e = field.find_last_not_of(" \t\r");
      out.push_back(b == std::string::npos ? "" : field.substr(b, e - b + 1));
    }
  }
  return out;
}

// Sorted, merged, zero-length segments dropped.
Segments Normalize(Segments s) {
  std::sort(s.begin(), s.end());
  Segments out;
  for (const auto& seg : s) {
    if (seg.second <= seg.first) continue;
    if (!out.empty() && seg.first <= out.back().second) out.back().second = std::max(out.back().second, seg.second);
    else out.push_back(seg);
  }
  return out;
}

// Calls on_line(line, number, "path:number") for every line of the file, stopping at the first error.
Status ForEachLine(const std::string& path,
                   const std::function<Status(const std::string&, int, const std::string&)>& on_line) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    RETURN_IF_ERROR(on_line(line, number, path + ":" + std::to_string(number)));
  }
  return Status::Ok();
}

Status ReadCsv(const std::string& path, const std::set<std::string>& audio_files,
               std::map<std::string, Segments>* segments) {
  return ForEachLine(path, [&](const std::string& line, int number, const std::string& where) -> Status {
    if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') return Status::Ok();
    std::vector<std::string> f = SplitFields(line, ',');
    if (number == 1 && f.size() >= 3 && f[1] == "start") return Status::Ok();  // header
    if (f.size() != 3) return InvalidArgument(where + ": expected file,start,end; got '" + line + "'");
    if (!audio_files.count(f[0])) return NotFound(where + ": no audio file '" + f[0] + "' under the dataset root");
    ASSIGN_OR_RETURN(double start, ParseSeconds(f[1], where, "start"));
    ASSIGN_OR_RETURN(double end, ParseSeconds(f[2], where, "end"));
    if (end < start) return InvalidArgument(where + ": the segment ends (" + f[2] + ") before it starts (" + f[1] + ")");
    (*segments)[f[0]].emplace_back(start, end);
    return Status::Ok();
  });
}

Status ReadRttm(const std::string& path, const std::map<std::string, std::string>& by_id,
                std::map<std::string, Segments>* segments) {
  return ForEachLine(path, [&](const std::string& line, int, const std::string& where) -> Status {
    std::vector<std::string> f = SplitFields(line, ' ');
    if (f.empty() || f[0] != "SPEAKER") return Status::Ok();
    if (f.size() < 5) return InvalidArgument(where + ": a SPEAKER row needs file, channel, onset and duration");
    auto file = by_id.find(f[1]);
    if (file == by_id.end()) return NotFound(where + ": no audio file named '" + f[1] + ".*' under the dataset root");
    ASSIGN_OR_RETURN(double onset, ParseSeconds(f[3], where, "onset"));
    ASSIGN_OR_RETURN(double duration, ParseSeconds(f[4], where, "duration"));
    (*segments)[file->second].emplace_back(onset, onset + duration);
    return Status::Ok();
  });
}

}  // namespace

Result<DatasetSplit> LoadSegmentsDataset(const SegmentsDatasetOptions& options) {
  const std::string& root = options.root;
  if (root.empty()) return InvalidArgument("segments dataset: root is empty");
  RETURN_IF_ERROR(internal::ValidateSplitPercentages(options.validation_percentage, options.testing_percentage)
                      .WithContext("segments dataset " + root));
  if (!internal::IsDirectory(root)) return NotFound(root + ": dataset root directory not found");

  std::set<std::string> audio_files;        // paths relative to root
  std::map<std::string, std::string> by_id;  // file name without extension -> relative path
  std::vector<std::string> rttms;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    const std::string relative = fs::relative(it->path(), root).string();
    if (internal::EndsWithNoCase(name, ".wav") || internal::EndsWithNoCase(name, ".flac")) {
      audio_files.insert(relative);
      const std::string id = it->path().stem().string();
      if (by_id.count(id)) return InvalidArgument(root + ": two audio files named " + id + ".* (RTTM ids must be unique)");
      by_id[id] = relative;
    } else if (internal::EndsWithNoCase(name, ".rttm")) {
      rttms.push_back(it->path().string());
    }
  }
  if (ec) return IoError(root + ": " + ec.message());
  if (audio_files.empty()) return NotFound(root + ": no .wav or .flac files");
  const std::string csv = internal::JoinPath(root, "segments.csv");
  const bool has_csv = internal::IsRegularFile(csv);
  if (!has_csv && rttms.empty()) return NotFound(root + ": no segments.csv and no .rttm files (speech annotations)");

  std::map<std::string, Segments> segments;
  if (has_csv) RETURN_IF_ERROR(ReadCsv(csv, audio_files, &segments));
  std::sort(rttms.begin(), rttms.end());
  for (const auto& r : rttms) RETURN_IF_ERROR(ReadRttm(r, by_id, &segments));

  DatasetSplit split;
  split.labels = {"speech"};
  for (const auto& relative : audio_files) {
    Example ex;
    ex.path = internal::JoinPath(root, relative);
    ex.speech = Normalize(segments[relative]);
    const std::string which = WhichSet(relative, options.validation_percentage, options.testing_percentage);
    (which == "validation" ? split.validation : which == "testing" ? split.test : split.train).push_back(std::move(ex));
  }
  return split;
}

}  // namespace chorus::data
