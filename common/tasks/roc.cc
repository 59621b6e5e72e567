#include "common/tasks/roc.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace chorus::tasks {

Result<RocCurve> RocFromScores(const std::vector<double>& scores, const std::vector<uint8_t>& positive) {
  if (scores.size() != positive.size()) {
    return InvalidArgument("ROC: " + std::to_string(scores.size()) + " scores but " +
                           std::to_string(positive.size()) + " labels");
  }
  std::vector<ScoreGroup> groups;
  groups.reserve(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) groups.push_back({scores[i], positive[i] ? 1.0 : 0.0, positive[i] ? 0.0 : 1.0});
  return RocFromGroups(std::move(groups));
}

Result<RocCurve> RocFromGroups(std::vector<ScoreGroup> groups) {
  RocCurve c;
  for (const auto& g : groups) {
    if (!std::isfinite(g.score)) return InvalidArgument("ROC: a score is not a finite number");
    if (!(g.positives >= 0 && g.negatives >= 0)) return InvalidArgument("ROC: a negative count");
    c.positives += g.positives;
    c.negatives += g.negatives;
  }
  if (c.positives <= 0 || c.negatives <= 0)
    return InvalidArgument("ROC needs at least one positive and one negative example");
  // Empty groups (histogram bins nobody fell in) are no operating point.
  groups.erase(std::remove_if(groups.begin(), groups.end(),
                              [](const ScoreGroup& g) { return g.positives + g.negatives <= 0; }),
               groups.end());
  std::sort(groups.begin(), groups.end(), [](const ScoreGroup& a, const ScoreGroup& b) { return a.score > b.score; });
  c.fpr.push_back(0);
  c.tpr.push_back(0);
  c.thresholds.push_back(std::numeric_limits<double>::infinity());
  double tp = 0, fp = 0;
  for (size_t i = 0; i < groups.size();) {
    const double s = groups[i].score;
    for (; i < groups.size() && groups[i].score == s; ++i) tp += groups[i].positives, fp += groups[i].negatives;
    c.fpr.push_back(fp / c.negatives);
    c.tpr.push_back(tp / c.positives);
    c.thresholds.push_back(s);
  }
  return c;
}

double Auc(const RocCurve& c) {
  double area = 0;
  for (size_t i = 1; i < c.size(); ++i) area += (c.fpr[i] - c.fpr[i - 1]) * (c.tpr[i] + c.tpr[i - 1]) / 2;
  return area;
}

EqualErrorRate ComputeEer(const RocCurve& c) {
  EqualErrorRate r{1.0, c.size() ? c.thresholds.back() : 0.0};
  for (size_t i = 1; i < c.size(); ++i) {
    const double fa = c.fpr[i - 1], ma = 1 - c.tpr[i - 1];
    const double fb = c.fpr[i], mb = 1 - c.tpr[i];
    if (fb < mb) continue;
    const double da = ma - fa, db = fb - mb;  // both >= 0
    const double w = da + db > 0 ? da / (da + db) : 0.0;
    r.eer = fa + w * (fb - fa);
    r.threshold = (w < 0.5 && i > 1) ? c.thresholds[i - 1] : c.thresholds[i];  // +inf is not a score
    break;
  }
  return r;
}

std::vector<double> FalseNegativeRates(const RocCurve& c) {
  std::vector<double> out(c.size());
  for (size_t i = 0; i < c.size(); ++i) out[i] = 1 - c.tpr[i];
  return out;
}

RocCurve Thin(const RocCurve& c, size_t max_points) {
  max_points = std::max<size_t>(max_points, 2);
  if (c.size() <= max_points) return c;
  RocCurve out;
  out.positives = c.positives;
  out.negatives = c.negatives;
  auto keep = [&](size_t i) {
    out.fpr.push_back(c.fpr[i]);
    out.tpr.push_back(c.tpr[i]);
    out.thresholds.push_back(c.thresholds[i]);
  };
  // Walk along the curve (its length is at most 2) and keep a point every 2 / (max_points - 2).
  const double step = 2.0 / static_cast<double>(max_points - 2);
  keep(0);
  double since = 0;
  for (size_t i = 1; i + 1 < c.size(); ++i) {
    since += (c.fpr[i] - c.fpr[i - 1]) + (c.tpr[i] - c.tpr[i - 1]);
    if (since >= step && out.size() + 1 < max_points) {
      keep(i);
      since = 0;
    }
  }
  keep(c.size() - 1);
  return out;
}

nlohmann::json RocJson(const RocCurve& c, size_t max_points) {
  const EqualErrorRate e = ComputeEer(c);
  nlohmann::json j = {{"auc", Auc(c)},
                      {"eer", e.eer},
                      {"eer_threshold", e.threshold},
                      {"positives", c.positives},
                      {"negatives", c.negatives}};
  if (max_points > 0) {
    const RocCurve t = Thin(c, max_points);
    nlohmann::json thresholds = nlohmann::json::array();
    for (double v : t.thresholds) thresholds.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
    j["fpr"] = t.fpr;
    j["tpr"] = t.tpr;
    j["thresholds"] = thresholds;
  }
  return j;
}

std::vector<NamedRoc> OneVsRestCurves(const std::vector<std::vector<double>>& scores,
                                      const std::vector<int64_t>& labels, const std::vector<std::string>& names) {
  std::vector<NamedRoc> out;
  const size_t n = std::min(scores.size(), labels.size());
  for (size_t c = 0; c < names.size(); ++c) {
    std::vector<double> s(n);
    std::vector<uint8_t> positive(n);
    for (size_t i = 0; i < n; ++i) {
      s[i] = c < scores[i].size() ? scores[i][c] : 0.0;
      positive[i] = labels[i] == static_cast<int64_t>(c);
    }
    Result<RocCurve> curve = RocFromScores(s, positive);
    if (curve.ok()) out.push_back({names[c], std::move(*curve)});
  }
  return out;
}

}  // namespace chorus::tasks
