// Recordings of any length with their speech regions, for voice-activity
// detection: every .wav/.flac file under ROOT (recursively), with the
// segments of one of two annotation layouts:
//   ROOT/segments.csv   rows "file,start,end" (seconds), file relative to
//                       ROOT; an optional header row; a recording with no
//                       rows has no speech (what `chorus dataset vad-synth`
//                       writes)
//   ROOT/**/*.rttm      NIST RTTM: "SPEAKER <file-id> <channel> <onset>
//                       <duration> ..." rows; <file-id> is an audio file's
//                       name without its extension; other row types ignored
// Overlapping segments are merged. Files go to validation or test by the
// speech-commands hash rule on their relative path. Every problem is an
// error naming the file and line. Labels: {"speech"}. Thread-safe.
#pragma once

#include <string>

#include "common/data/example.h"
#include "common/util/status.h"

namespace chorus::data {

struct SegmentsDatasetOptions {
  std::string root;
  double validation_percentage = 10.0;
  double testing_percentage = 10.0;
};

Result<DatasetSplit> LoadSegmentsDataset(const SegmentsDatasetOptions& options);

}  // namespace chorus::data
