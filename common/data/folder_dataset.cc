#include "common/data/folder_dataset.h"

#include "common/data/data_internal.h"
#include "common/data/speech_commands.h"

namespace chorus::data {

namespace {
using internal::JoinPath;
constexpr const char* kBackgroundNoiseDir = "_background_noise_";
}  // namespace

Result<DatasetSplit> LoadFolderDataset(const FolderDatasetOptions& options) {
  const std::string& root = options.root;
  if (root.empty()) return InvalidArgument("folder dataset: root is empty");
  RETURN_IF_ERROR(internal::ValidateSplitPercentages(options.validation_percentage, options.testing_percentage)
                      .WithContext("folder dataset " + root));
  if (!internal::IsDirectory(root)) return NotFound(root + ": dataset root directory not found");

  ASSIGN_OR_RETURN(std::vector<std::string> subdirs, internal::ListSubdirs(root));
  const std::vector<std::string> kExtensions = {".wav", ".flac"};
  DatasetSplit split;
  for (const auto& d : subdirs) {
    const std::string dir = JoinPath(root, d);
    ASSIGN_OR_RETURN(std::vector<std::string> files, internal::ListFiles(dir, kExtensions));
    if (d == kBackgroundNoiseDir) {
      // Same convention as speech commands: noise for augmentation, not a class.
      for (const auto& f : files) split.noise_files.push_back(JoinPath(dir, f));
      continue;
    }
    if (files.empty()) return NotFound(dir + ": label folder has no .wav or .flac files");
    const int label = static_cast<int>(split.labels.size());
    split.labels.push_back(d);
    for (const auto& f : files) {
      Example ex{JoinPath(dir, f), label, internal::SpeakerFromName(f), {}};
      std::string which = WhichSet(f, options.validation_percentage, options.testing_percentage);
      if (which == "validation") {
        split.validation.push_back(std::move(ex));
      } else if (which == "testing") {
        split.test.push_back(std::move(ex));
      } else {
        split.train.push_back(std::move(ex));
      }
    }
  }
  if (split.labels.empty()) return NotFound(root + ": no label folders (expected ROOT/<label>/*.wav or *.flac)");
  return split;
}

}  // namespace chorus::data
