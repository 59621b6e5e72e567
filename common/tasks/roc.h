// Binary score curves, torch-free: the ROC curve of scores against
// positive / negative labels, its area (AUC), the DET curve (false-positive
// rate against false-negative rate) and the equal error rate (EER), for
// one-vs-rest class scores (classify), frame probabilities (detect) and
// trial scores (embed).
//
//   Curve       like sklearn.metrics.roc_curve(drop_intermediate=False): one
//               point per distinct score, from the threshold +inf at (0, 0)
//               down to the lowest score at (1, 1); a point accepts every
//               example whose score is >= its threshold.
//   AUC         the trapezoidal area under that curve, so tied scores count
//               half, as sklearn.metrics.roc_auc_score (= the Mann-Whitney U
//               statistic with mid-ranks, / (positives * negatives)).
//   EER         where the false-positive rate (rising) meets the false-
//               negative rate (falling), interpolated linearly between the
//               two points around the crossing (as speaker_metrics.h).
//   Groups      the same from (score, positives, negatives) groups, e.g. a
//               histogram of frame probabilities summed across ranks.
//   Thin        at most n points of a curve for plots and JSON, keeping both
//               ends and every corner larger than 1/n.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/status.h"

namespace chorus::tasks {

struct RocCurve {
  // Same length; thresholds descend (the first is +inf), fpr and tpr rise.
  std::vector<double> fpr, tpr, thresholds;
  double positives = 0, negatives = 0;
  size_t size() const { return fpr.size(); }
};

// Examples sharing a score: how many are positive and negative (weights).
struct ScoreGroup {
  double score = 0;
  double positives = 0;
  double negatives = 0;
};

// positive[i]: example i is of the positive class. Needs one positive, one
// negative, equal sizes and finite scores (else InvalidArgument saying which).
Result<RocCurve> RocFromScores(const std::vector<double>& scores, const std::vector<uint8_t>& positive);
// Groups in any order; equal scores are merged. Same requirements.
Result<RocCurve> RocFromGroups(std::vector<ScoreGroup> groups);

double Auc(const RocCurve& curve);

struct EqualErrorRate {
  double eer = 0;
  double threshold = 0;  // accept at or above it
};
EqualErrorRate ComputeEer(const RocCurve& curve);

// The DET curve's false-negative rates (1 - tpr), point for point.
std::vector<double> FalseNegativeRates(const RocCurve& curve);

// At most max_points (>= 2) of the curve.
RocCurve Thin(const RocCurve& curve, size_t max_points);

// {"auc", "eer", "eer_threshold", "positives", "negatives"} and, with
// max_points > 0, the thinned curve ("fpr", "tpr", "thresholds"; +inf
// written as null).
nlohmann::json RocJson(const RocCurve& curve, size_t max_points = 0);

// A curve named for what it scores (a class, "frames", "trials").
struct NamedRoc {
  std::string name;
  RocCurve curve;
};

// One-vs-rest curves of class scores: scores[i][c] is example i's score for
// class c, labels[i] its class, names[c] the class's name. A class with no
// positive or no negative example has no curve.
std::vector<NamedRoc> OneVsRestCurves(const std::vector<std::vector<double>>& scores,
                                      const std::vector<int64_t>& labels, const std::vector<std::string>& names);

}  // namespace chorus::tasks
