#include "common/data/speaker_dataset.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "common/data/data_internal.h"
#include "common/data/speech_commands.h"

namespace chorus::data {
namespace {

using internal::JoinPath;

const std::vector<std::string>& AudioExtensions() {
  static const std::vector<std::string> kExtensions = {".wav", ".flac"};
  return kExtensions;
}

}  // namespace

Result<std::vector<Example>> ListSpeakerUtterances(const std::string& root, std::vector<std::string>* relative) {
  if (!internal::IsDirectory(root)) return NotFound(root + ": speaker dataset folder does not exist");
  ASSIGN_OR_RETURN(std::vector<std::string> speakers, internal::ListSubdirs(root));
  std::vector<Example> out;
  relative->clear();
  for (const auto& speaker : speakers) {
    if (speaker.front() == '_') continue;  // _background_noise_ and the like
    const std::string dir = JoinPath(root, speaker);
    ASSIGN_OR_RETURN(std::vector<std::string> direct, internal::ListFiles(dir, AudioExtensions()));
    for (const auto& f : direct) {
      out.push_back({JoinPath(dir, f), 0, speaker, {}});
      relative->push_back(speaker + "/" + f);
    }
    ASSIGN_OR_RETURN(std::vector<std::string> sessions, internal::ListSubdirs(dir));
    for (const auto& session : sessions) {
      ASSIGN_OR_RETURN(std::vector<std::string> files, internal::ListFiles(JoinPath(dir, session), AudioExtensions()));
      for (const auto& f : files) {
        out.push_back({JoinPath(JoinPath(dir, session), f), 0, speaker, {}});
        relative->push_back(speaker + "/" + session + "/" + f);
      }
    }
  }
  if (out.empty()) return InvalidArgument(root + ": no <speaker>/<session>/<utterance>.wav files");
  return out;
}

Result<std::vector<Trial>> ReadTrialList(const std::string& path, const std::vector<std::string>& relative) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": trial list not found");
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < relative.size(); ++i) index[relative[i]] = static_cast<int64_t>(i);
  std::vector<Trial> trials;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::istringstream fields(line);
    std::string label, enrol, test, extra;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    if (!(fields >> label >> enrol >> test) || (fields >> extra))
      return InvalidArgument(where + "expected 'LABEL ENROL TEST' (label 1 for the same speaker, 0 otherwise)");
    if (label != "0" && label != "1") return InvalidArgument(where + "label must be 0 or 1, got '" + label + "'");
    auto e = index.find(enrol), t = index.find(test);
    if (e == index.end()) return InvalidArgument(where + "'" + enrol + "' is not an utterance of the split");
    if (t == index.end()) return InvalidArgument(where + "'" + test + "' is not an utterance of the split");
    trials.push_back({e->second, t->second, label == "1"});
  }
  if (trials.empty()) return InvalidArgument(path + ": the trial list is empty");
  return trials;
}

Result<DatasetSplit> LoadSpeakerDataset(const SpeakerDatasetOptions& o) {
  const double testing = o.test_root.empty() ? o.testing_percentage : 0.0;
  RETURN_IF_ERROR(internal::ValidateSplitPercentages(o.validation_percentage, testing).WithContext(o.root));
  std::vector<std::string> relative;
  ASSIGN_OR_RETURN(std::vector<Example> all, ListSpeakerUtterances(o.root, &relative));
  DatasetSplit split;
  std::vector<std::string> validation_relative, test_relative;
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string which = WhichSet(all[i].speaker, o.validation_percentage, testing);
    if (which == "validation") {
      split.validation.push_back(all[i]);
      validation_relative.push_back(relative[i]);
    } else if (which == "testing") {
      split.test.push_back(all[i]);
      test_relative.push_back(relative[i]);
    } else {
      split.train.push_back(all[i]);
    }
  }
  const std::string noise = JoinPath(o.root, "_background_noise_");
  if (internal::IsDirectory(noise)) {
    ASSIGN_OR_RETURN(std::vector<std::string> files, internal::ListFiles(noise, AudioExtensions()));
    for (const auto& f : files) split.noise_files.push_back(JoinPath(noise, f));
  }
  if (!o.test_root.empty()) {
    ASSIGN_OR_RETURN(split.test, ListSpeakerUtterances(o.test_root, &test_relative));
  }
  for (const auto& e : split.train)
    if (split.labels.empty() || split.labels.back() != e.speaker) split.labels.push_back(e.speaker);
  if (split.labels.size() < 2) return InvalidArgument(o.root + ": speaker recognition needs at least 2 training speakers");
  for (auto& e : split.train)
    e.label = static_cast<int>(std::lower_bound(split.labels.begin(), split.labels.end(), e.speaker) - split.labels.begin());
  if (!o.validation_trials.empty()) {
    ASSIGN_OR_RETURN(split.validation_trials, ReadTrialList(o.validation_trials, validation_relative));
  }
  if (!o.test_trials.empty()) {
    ASSIGN_OR_RETURN(split.test_trials, ReadTrialList(o.test_trials, test_relative));
  }
  return split;
}

}  // namespace chorus::data
