#include "worker/train/dataset_from_spec.h"

#include <algorithm>
#include <filesystem>

#include "common/data/folder_dataset.h"
#include "common/data/fsdd.h"
#include "common/data/segments_dataset.h"
#include "common/data/speaker_dataset.h"
#include "common/data/speech_commands.h"

namespace chorus::train {
namespace {

namespace fs = std::filesystem;

Status AddExtraSource(const config::ExtraTrainSource& source, data::DatasetSplit* split) {
  if (!fs::is_directory(source.root)) return NotFound(source.root + ": extra training source folder does not exist");
  for (const auto& [folder, label] : source.label_map) {
    auto it = std::find(split->labels.begin(), split->labels.end(), label);
    if (it == split->labels.end()) {
      return InvalidArgument(source.root + ": label_map maps '" + folder + "' to '" + label +
                             "', which is not a label of the dataset");
    }
    const int label_id = static_cast<int>(it - split->labels.begin());
    const fs::path dir = fs::path(source.root) / folder;
    if (!fs::is_directory(dir)) return NotFound(dir.string() + ": folder named in label_map does not exist");
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".wav" || ext == ".flac")) files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());  // directory order is not stable
    for (auto& f : files) split->train.push_back({f, label_id, "", {}});
  }
  return Status::Ok();
}

}  // namespace

Result<data::DatasetSplit> LoadDatasetFromSpec(const config::DatasetSpec& spec, uint64_t seed) {
  Result<data::DatasetSplit> split = InvalidArgument("unknown dataset kind '" + spec.kind + "'");
  if (spec.kind == "speech_commands") {
    data::SpeechCommandsOptions o;
    o.root = spec.root;
    o.words = spec.words;
    o.silence_percentage = spec.silence_percentage;
    o.unknown_percentage = spec.unknown_percentage;
    o.validation_percentage = spec.validation_percentage;
    o.testing_percentage = spec.testing_percentage;
    o.seed = seed;
    split = data::LoadSpeechCommands(o);
  } else if (spec.kind == "fsdd") {
    data::FsddOptions o;
    o.root = spec.root;
    o.train_speakers = spec.train_speakers;
    o.validation_speakers = spec.validation_speakers;
    o.test_speakers = spec.test_speakers;
    split = data::LoadFsdd(o);
  } else if (spec.kind == "folder") {
    data::FolderDatasetOptions o;
    o.root = spec.root;
    o.validation_percentage = spec.validation_percentage;
    o.testing_percentage = spec.testing_percentage;
    split = data::LoadFolderDataset(o);
  } else if (spec.kind == "segments") {
    data::SegmentsDatasetOptions o;
    o.root = spec.root;
    o.validation_percentage = spec.validation_percentage;
    o.testing_percentage = spec.testing_percentage;
    split = data::LoadSegmentsDataset(o);
  } else if (spec.kind == "speakers") {
    data::SpeakerDatasetOptions o;
    o.root = spec.root;
    o.test_root = spec.test_root;
    o.validation_percentage = spec.validation_percentage;
    o.testing_percentage = spec.testing_percentage;
    o.validation_trials = spec.validation_trials;
    o.test_trials = spec.test_trials;
    split = data::LoadSpeakerDataset(o);
  }
  if (!split.ok()) return split.status();
  const std::vector<data::Example> once = split->train;
  for (int r = 1; r < spec.repeat; ++r) split->train.insert(split->train.end(), once.begin(), once.end());
  for (const auto& extra : spec.extra_train) RETURN_IF_ERROR(AddExtraSource(extra, &split.value()));
  if (split->train.empty()) return InvalidArgument(spec.root + ": the dataset has no training examples");
  return split;
}

}  // namespace chorus::train
