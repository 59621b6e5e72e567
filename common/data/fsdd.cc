#include "common/data/fsdd.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "common/data/data_internal.h"
#include "common/data/fsdd_names.h"

namespace chorus::data {

namespace {

using internal::JoinPath;

}  // namespace

Result<DatasetSplit> LoadFsdd(const FsddOptions& options) {
  if (options.root.empty()) return InvalidArgument("fsdd: root is empty");
  if (!internal::IsDirectory(options.root)) return NotFound(options.root + ": FSDD root directory not found");
  const std::string dir = FsddRecordingsDir(options.root);

  // speaker -> 0 train, 1 validation, 2 test.
  std::map<std::string, int> assignment;
  const std::vector<std::string>* lists[3] = {&options.train_speakers, &options.validation_speakers,
                                              &options.test_speakers};
  const char* list_names[3] = {"train", "validation", "test"};
  for (int s = 0; s < 3; ++s) {
    for (const auto& speaker : *lists[s]) {
      if (speaker.empty())
        return InvalidArgument("fsdd " + dir + ": empty speaker name in the " + list_names[s] + " list");
      auto [it, inserted] = assignment.emplace(speaker, s);
      if (!inserted) {
        return InvalidArgument("fsdd " + dir + ": speaker '" + speaker + "' is in both the " + list_names[it->second] +
                               " and the " + list_names[s] + " lists");
      }
    }
  }
  if (assignment.empty()) return InvalidArgument("fsdd " + dir + ": no speakers given for any split");

  ASSIGN_OR_RETURN(std::vector<std::string> files, internal::ListFiles(dir, {".wav"}));
  struct Entry {
    FsddName name;
    std::string path;
    int split;
  };
  std::vector<Entry> entries;
  std::map<std::string, int> count_by_speaker;
  for (const auto& file : files) {
    FsddName parsed;
    if (!ParseFsddName(file, &parsed)) {
      return InvalidArgument(JoinPath(dir, file) + ": not an FSDD file name (expected {digit}_{speaker}_{index}.wav)");
    }
    auto it = assignment.find(parsed.speaker);
    if (it == assignment.end()) continue;
    ++count_by_speaker[parsed.speaker];
    entries.push_back(Entry{parsed, JoinPath(dir, file), it->second});
  }
  for (const auto& [speaker, s] : assignment) {
    if (!count_by_speaker.count(speaker)) {
      return NotFound(dir + ": no recordings for " + list_names[s] + " speaker '" + speaker + "'");
    }
  }
  // Order by speaker, digit, then index as a number (0, 1, 2, ..., 10, ...).
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.name.speaker, a.name.digit, a.name.index, a.path) <
           std::tie(b.name.speaker, b.name.digit, b.name.index, b.path);
  });

  DatasetSplit split;
  for (int d = 0; d < 10; ++d) split.labels.push_back(std::to_string(d));
  std::vector<Example>* outputs[3] = {&split.train, &split.validation, &split.test};
  for (auto& e : entries) {
    outputs[e.split]->push_back(Example{std::move(e.path), e.name.digit, e.name.speaker, {}});
  }
  return split;
}

}  // namespace chorus::data
