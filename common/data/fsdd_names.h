// Free Spoken Digit Dataset file names, shared by the FSDD reader, the
// dataset makers that borrow FSDD speakers (vad-synth, speaker-synth) and
// the benchmarks: "{digit}_{speaker}_{index}.wav", under ROOT or
// ROOT/recordings. Pure; thread-safe; no LibTorch.
#pragma once

#include <string>

namespace chorus::data {

struct FsddName {
  int digit = 0;
  std::string speaker;
  long long index = 0;
};

// False when `file` (a name, not a path) is not "{digit}_{speaker}_{index}.wav".
bool ParseFsddName(const std::string& file, FsddName* out);

// ROOT/recordings when ROOT has that folder, else ROOT.
std::string FsddRecordingsDir(const std::string& root);

}  // namespace chorus::data
