#include "common/tasks/speaker_metrics.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

namespace chorus::tasks {

Embedding Normalized(const Embedding& x) {
  double norm = 0;
  for (float v : x) norm += static_cast<double>(v) * v;
  norm = std::sqrt(norm);
  Embedding out(x.size(), 0.0f);
  if (norm > 0)
    for (size_t i = 0; i < x.size(); ++i) out[i] = static_cast<float>(x[i] / norm);
  return out;
}

double Cosine(const Embedding& a, const Embedding& b) {
  double dot = 0, na = 0, nb = 0;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0.0;
}

Result<Embedding> EnrolmentEmbedding(const std::vector<Embedding>& utterances) {
  if (utterances.empty()) return InvalidArgument("enrolment needs at least one utterance");
  const size_t dim = utterances.front().size();
  if (dim == 0) return InvalidArgument("enrolment embeddings are empty");
  std::vector<double> sum(dim, 0.0);
  for (const auto& u : utterances) {
    if (u.size() != dim) return InvalidArgument("enrolment embeddings differ in size");
    const Embedding n = Normalized(u);
    for (size_t i = 0; i < dim; ++i) sum[i] += n[i];
  }
  Embedding mean(dim);
  for (size_t i = 0; i < dim; ++i) mean[i] = static_cast<float>(sum[i] / static_cast<double>(utterances.size()));
  return Normalized(mean);
}

namespace {

// Operating points from "accept nothing" down to "accept everything", one per distinct score.
struct Point {
  double threshold, false_accept, miss;
};

std::vector<Point> OperatingPoints(std::vector<ScoredTrial> trials, int64_t* targets, int64_t* nontargets) {
  std::sort(trials.begin(), trials.end(), [](const ScoredTrial& a, const ScoredTrial& b) { return a.score > b.score; });
  *targets = 0;
  *nontargets = 0;
  for (const auto& t : trials) ++(t.target ? *targets : *nontargets);
  std::vector<Point> points;
  points.push_back({trials.empty() ? 1.0 : std::nextafter(trials.front().score, HUGE_VAL), 0.0, 1.0});
  int64_t accepted_targets = 0, accepted_nontargets = 0;
  for (size_t i = 0; i < trials.size();) {
    const double s = trials[i].score;
    for (; i < trials.size() && trials[i].score == s; ++i) ++(trials[i].target ? accepted_targets : accepted_nontargets);
    points.push_back({s, static_cast<double>(accepted_nontargets) / static_cast<double>(*nontargets),
                      1.0 - static_cast<double>(accepted_targets) / static_cast<double>(*targets)});
  }
  return points;
}

Status CheckTrials(const std::vector<ScoredTrial>& trials) {
  bool target = false, nontarget = false;
  for (const auto& t : trials) {
    if (!std::isfinite(t.score)) return InvalidArgument("a trial's score is not a finite number");
    (t.target ? target : nontarget) = true;
  }
  if (!target || !nontarget)
    return InvalidArgument("error rates need at least one same-speaker and one different-speaker trial");
  return Status::Ok();
}

std::string Percent(double v) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << 100.0 * v << "%";
  return out.str();
}

}  // namespace

Result<ErrorRates> ComputeErrorRates(const std::vector<ScoredTrial>& trials, double p_target) {
  RETURN_IF_ERROR(CheckTrials(trials));
  if (!(p_target > 0 && p_target < 1)) return InvalidArgument("p_target must be in (0, 1)");
  ErrorRates r;
  const std::vector<Point> points = OperatingPoints(trials, &r.targets, &r.nontargets);
  // EER: where the false-accept rate (rising) meets the miss rate (falling),
  // interpolated linearly between the two operating points around the crossing.
  r.eer = 1.0;
  for (size_t i = 1; i < points.size(); ++i) {
    const Point& a = points[i - 1];
    const Point& b = points[i];
    if (b.false_accept < b.miss) continue;
    const double da = a.miss - a.false_accept, db = b.false_accept - b.miss;  // both >= 0
    const double w = da + db > 0 ? da / (da + db) : 0.0;
    r.eer = a.false_accept + w * (b.false_accept - a.false_accept);
    r.eer_threshold = w < 0.5 ? a.threshold : b.threshold;
    if (i == 1) r.eer_threshold = b.threshold;  // "accept nothing" is not a score
    break;
  }
  const double norm = std::min(p_target, 1 - p_target);
  r.min_dcf = 1e300;
  for (const Point& p : points) {
    const double cost = (p_target * p.miss + (1 - p_target) * p.false_accept) / norm;
    if (cost < r.min_dcf) {
      r.min_dcf = cost;
      r.min_dcf_threshold = p.threshold;
    }
  }
  return r;
}

Result<double> ThresholdAtFalseAcceptRate(const std::vector<ScoredTrial>& trials, double far) {
  RETURN_IF_ERROR(CheckTrials(trials));
  if (!(far >= 0 && far <= 1)) return InvalidArgument("the false-accept rate must be in [0, 1]");
  int64_t targets = 0, nontargets = 0;
  double threshold = 0;
  for (const Point& p : OperatingPoints(trials, &targets, &nontargets)) {
    if (p.false_accept > far) break;
    threshold = p.threshold;
  }
  return threshold;
}

nlohmann::json SpeakerEvalReport::ToJson() const {
  nlohmann::json j = {{"eer", rates.eer},
          {"eer_threshold", rates.eer_threshold},
          {"min_dcf", rates.min_dcf},
          {"min_dcf_threshold", rates.min_dcf_threshold},
          {"p_target", p_target},
          {"target_trials", rates.targets},
          {"nontarget_trials", rates.nontargets},
          {"identification_top1", top1},
          {"enrolled_speakers", speakers},
          {"test_utterances", tests}};
  if (threshold) {
    j["threshold"] = *threshold;
    j["false_accept_rate"] = false_accept_rate;
    j["miss_rate"] = miss_rate;
  }
  return j;
}

std::string SpeakerEvalReport::ToTable() const {
  std::ostringstream out;
  out << "  EER " << Percent(rates.eer) << " (threshold " << std::setprecision(4) << rates.eer_threshold << ")  minDCF(0.01) "
      << std::setprecision(4) << rates.min_dcf << "  identification top-1 " << Percent(top1) << "\n"
      << "  " << speakers << " enrolled speakers, " << tests << " test utterances, " << rates.targets << " target / "
      << rates.nontargets << " non-target trials\n";
  if (threshold)
    out << "  at the model's threshold " << std::setprecision(4) << *threshold << ": false accepts "
        << Percent(false_accept_rate) << ", misses " << Percent(miss_rate) << "\n";
  return out.str();
}

Result<SpeakerEvalReport> EvaluateSpeakers(const std::vector<Embedding>& embeddings,
                                           const std::vector<std::string>& speakers,
                                           const std::vector<data::Trial>& trials,
                                           const SpeakerEvalOptions& options) {
  if (embeddings.size() != speakers.size()) return InvalidArgument("one speaker per embedding is needed");
  if (options.enrol < 1) return InvalidArgument("enrolment needs at least one utterance per speaker");
  SpeakerEvalReport report;
  report.p_target = options.p_target;
  std::vector<ScoredTrial> scored;
  if (!trials.empty()) {
    const int64_t n = static_cast<int64_t>(embeddings.size());
    for (const auto& t : trials) {
      if (t.enrol < 0 || t.enrol >= n || t.test < 0 || t.test >= n) return InvalidArgument("a trial names no utterance");
      scored.push_back({Cosine(embeddings[t.enrol], embeddings[t.test]), t.target});
    }
    report.tests = static_cast<int64_t>(trials.size());
  } else {
    // Speakers in order of first appearance; each one's utterances in order.
    std::vector<std::string> order;
    std::map<std::string, std::vector<size_t>> utterances;
    for (size_t i = 0; i < speakers.size(); ++i) {
      if (!utterances.count(speakers[i])) order.push_back(speakers[i]);
      utterances[speakers[i]].push_back(i);
    }
    std::vector<Embedding> enrolled;
    std::vector<std::pair<size_t, size_t>> tests;  // utterance, its speaker's position in `enrolled`
    for (const auto& name : order) {
      const std::vector<size_t>& u = utterances[name];
      if (u.size() < static_cast<size_t>(options.enrol)) continue;
      std::vector<Embedding> enrol;
      for (int k = 0; k < options.enrol; ++k) enrol.push_back(embeddings[u[k]]);
      ASSIGN_OR_RETURN(Embedding e, EnrolmentEmbedding(enrol));
      for (size_t k = static_cast<size_t>(options.enrol); k < u.size(); ++k) tests.emplace_back(u[k], enrolled.size());
      enrolled.push_back(std::move(e));
    }
    report.speakers = static_cast<int64_t>(enrolled.size());
    report.tests = static_cast<int64_t>(tests.size());
    int64_t right = 0;
    for (const auto& [utterance, own] : tests) {
      double best = -2;
      size_t best_speaker = 0;
      for (size_t s = 0; s < enrolled.size(); ++s) {
        const double score = Cosine(enrolled[s], embeddings[utterance]);
        scored.push_back({score, s == own});
        if (score > best) best = score, best_speaker = s;
      }
      right += best_speaker == own;
    }
    if (enrolled.size() >= 2 && !tests.empty())
      report.top1 = static_cast<double>(right) / static_cast<double>(tests.size());
  }
  ASSIGN_OR_RETURN(report.rates, ComputeErrorRates(scored, options.p_target));
  if (options.threshold) {
    report.threshold = options.threshold;
    int64_t false_accepts = 0, misses = 0;
    for (const auto& t : scored) {
      const bool accepted = t.score >= *options.threshold;
      false_accepts += !t.target && accepted;
      misses += t.target && !accepted;
    }
    report.false_accept_rate = static_cast<double>(false_accepts) / static_cast<double>(report.rates.nontargets);
    report.miss_rate = static_cast<double>(misses) / static_cast<double>(report.rates.targets);
  }
  report.scored = std::move(scored);
  return report;
}

}  // namespace chorus::tasks
