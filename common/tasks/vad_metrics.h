// Figures of a voice-activity detector against reference labels: frame-level
// ROC-AUC, precision / recall / F1, miss and false-alarm rates at a
// threshold, and segment onset / offset errors. Frame probabilities are kept
// as two histograms (speech frames, non-speech frames) of kBins bins over
// [0, 1], so the figures of many recordings, and of many ranks, add up:
// Counts() is a flat vector to sum across ranks, SetCounts() takes the sum.
// Thresholds are resolved to the bin edges (multiples of 1/kBins).
// Thread-compatible.
#pragma once

#include <cstdint>
#include <vector>

#include "common/tasks/roc.h"
#include "common/tasks/vad_postprocess.h"

namespace chorus::tasks {

class VadMetrics {
 public:
  static constexpr int kBins = 1000;

  VadMetrics();
  // targets: 1 for speech, 0 otherwise.
  void AddFrames(const float* probabilities, const float* targets, int64_t n);
  // Each reference segment is matched with the hypothesis segment that
  // overlaps it most (if any).
  void AddSegments(const std::vector<Segment>& reference, const std::vector<Segment>& hypothesis);

  std::vector<double> Counts() const;
  void SetCounts(const std::vector<double>& counts);  // same size as Counts()

  double RocAuc() const;  // 0.5 when either class is absent
  // The histograms as ROC groups (score: the bin's lower edge), for the curve.
  std::vector<ScoreGroup> FrameScoreGroups() const;
  struct AtThreshold {
    double threshold = 0.5, precision = 0, recall = 0, f1 = 0, miss_rate = 0, false_alarm_rate = 0, accuracy = 0;
  };
  AtThreshold At(double threshold) const;
  AtThreshold BestF1() const;  // over the bin edges
  int64_t speech_frames() const;
  int64_t frames() const;
  double mean_onset_error_s() const;   // over matched reference segments
  double mean_offset_error_s() const;
  double matched_fraction() const;     // reference segments with an overlapping hypothesis
  int64_t reference_segments() const { return static_cast<int64_t>(reference_segments_); }
  int64_t hypothesis_segments() const { return static_cast<int64_t>(hypothesis_segments_); }

 private:
  std::vector<double> speech_, other_;  // histograms
  double onset_sum_ = 0, offset_sum_ = 0, matched_ = 0, reference_segments_ = 0, hypothesis_segments_ = 0;
};

}  // namespace chorus::tasks
