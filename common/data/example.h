// The dataset contract shared by every dataset reader: a labelled list of
// audio files split three ways, plus background-noise files for augmentation.
// Plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace chorus::data {

// Label names used by the speech-commands reader for its two extra classes.
inline constexpr const char* kSilenceLabel = "_silence_";
inline constexpr const char* kUnknownLabel = "_unknown_";

// Speech regions of a recording, [start, end) in seconds (voice activity).
using Segments = std::vector<std::pair<double, double>>;

struct Example {
  std::string path;     // audio file; empty for a silence example (noise only)
  int label = 0;        // index into DatasetSplit::labels
  std::string speaker;  // who spoke it ("" when unknown)
  Segments speech;      // where speech is (datasets for voice activity; else empty)
};

// A verification trial of an explicit list: is `test` spoken by the speaker
// of `enrol`? Indices into one split's examples.
struct Trial {
  int64_t enrol = 0;
  int64_t test = 0;
  bool target = false;  // same speaker
};

struct DatasetSplit {
  std::vector<std::string> labels;  // class names, index = label id
  std::vector<Example> train;
  std::vector<Example> validation;
  std::vector<Example> test;
  std::vector<std::string> noise_files;  // background noise (may be empty)
  // Speaker datasets with trial lists; empty: the task builds its own trials.
  std::vector<Trial> validation_trials;
  std::vector<Trial> test_trials;
};

}  // namespace chorus::data
