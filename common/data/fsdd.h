// Free Spoken Digit Dataset reader: ROOT/{digit}_{speaker}_{index}.wav (the
// "recordings" subfolder is used when ROOT has one). Labels are "0".."9".
// The split is by speaker: every speaker goes to exactly one of the lists;
// files of speakers in no list are ignored. A name that does not follow the
// pattern is an InvalidArgument naming the file. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/data/example.h"
#include "common/util/status.h"

namespace chorus::data {

struct FsddOptions {
  std::string root;
  std::vector<std::string> train_speakers;
  std::vector<std::string> validation_speakers;  // may be empty
  std::vector<std::string> test_speakers;
};

Result<DatasetSplit> LoadFsdd(const FsddOptions& options);

}  // namespace chorus::data
