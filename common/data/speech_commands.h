// Google Speech Commands layout reader:
//   ROOT/<word>/<speaker>_nohash_<n>.wav     one folder per word
//   ROOT/_background_noise_/*.wav             noise for augmentation and silence
//   ROOT/validation_list.txt, testing_list.txt (optional; relative paths)
//
// Split: the shipped lists when both exist, otherwise the hash rule of
// TensorFlow's speech_commands example (SHA-1 of the file name with everything
// from "_nohash_" on removed, mod 2^27 as a percentage: below validation% is
// validation, below validation%+testing% is test). Classes are
// [_silence_, _unknown_, words...]; any other folder is "unknown". Unknown and
// silence examples are added to each split at unknown_percentage and
// silence_percentage of the split's word examples, chosen with `seed`
// (silence examples have an empty path). Thread-safe (pure function of disk).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/data/example.h"
#include "common/util/status.h"

namespace chorus::data {

struct SpeechCommandsOptions {
  std::string root;
  std::vector<std::string> words;  // the wanted words, e.g. yes no up down ...
  double silence_percentage = 10.0;
  double unknown_percentage = 10.0;
  double validation_percentage = 10.0;
  double testing_percentage = 10.0;
  uint64_t seed = 59185;
};

// "training", "validation" or "testing" for a file name, by the hash rule.
std::string WhichSet(const std::string& filename, double validation_percentage, double testing_percentage);

Result<DatasetSplit> LoadSpeechCommands(const SpeechCommandsOptions& options);

}  // namespace chorus::data
