// Generic folder-per-label reader: ROOT/<label>/*.{wav,flac}. Labels are the
// sorted folder names. Each file goes to validation or test by the same hash
// rule as speech commands applied to its file name (so the split is stable as
// files are added). Thread-safe.
#pragma once

#include <string>

#include "common/data/example.h"
#include "common/util/status.h"

namespace chorus::data {

struct FolderDatasetOptions {
  std::string root;
  double validation_percentage = 10.0;
  double testing_percentage = 10.0;
};

Result<DatasetSplit> LoadFolderDataset(const FolderDatasetOptions& options);

}  // namespace chorus::data
