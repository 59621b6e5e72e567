#include "common/tasks/vad_metrics.h"

#include <algorithm>
#include <cmath>

namespace chorus::tasks {

VadMetrics::VadMetrics() : speech_(kBins, 0.0), other_(kBins, 0.0) {}

void VadMetrics::AddFrames(const float* p, const float* t, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const int bin = std::clamp(static_cast<int>(std::floor(p[i] * kBins)), 0, kBins - 1);
    (t[i] > 0.5f ? speech_ : other_)[bin] += 1;
  }
}

void VadMetrics::AddSegments(const std::vector<Segment>& reference, const std::vector<Segment>& hypothesis) {
  reference_segments_ += static_cast<double>(reference.size());
  hypothesis_segments_ += static_cast<double>(hypothesis.size());
  for (const auto& r : reference) {
    double best = 0;
    const Segment* match = nullptr;
    for (const auto& h : hypothesis) {
      const double overlap = std::min(r.second, h.second) - std::max(r.first, h.first);
      if (overlap > best) best = overlap, match = &h;
    }
    if (!match) continue;
    onset_sum_ += std::abs(match->first - r.first);
    offset_sum_ += std::abs(match->second - r.second);
    matched_ += 1;
  }
}

std::vector<double> VadMetrics::Counts() const {
  std::vector<double> out = speech_;
  out.insert(out.end(), other_.begin(), other_.end());
  out.insert(out.end(), {onset_sum_, offset_sum_, matched_, reference_segments_, hypothesis_segments_});
  return out;
}

void VadMetrics::SetCounts(const std::vector<double>& c) {
  std::copy(c.begin(), c.begin() + kBins, speech_.begin());
  std::copy(c.begin() + kBins, c.begin() + 2 * kBins, other_.begin());
  onset_sum_ = c[2 * kBins];
  offset_sum_ = c[2 * kBins + 1];
  matched_ = c[2 * kBins + 2];
  reference_segments_ = c[2 * kBins + 3];
  hypothesis_segments_ = c[2 * kBins + 4];
}

double VadMetrics::RocAuc() const {
  double positives = 0, negatives = 0;
  for (int b = 0; b < kBins; ++b) positives += speech_[b], negatives += other_[b];
  if (positives == 0 || negatives == 0) return 0.5;
  // P(score of a speech frame > score of a non-speech frame), ties counted half.
  double below = 0, wins = 0;
  for (int b = 0; b < kBins; ++b) {
    wins += speech_[b] * (below + 0.5 * other_[b]);
    below += other_[b];
  }
  return wins / (positives * negatives);
}

std::vector<ScoreGroup> VadMetrics::FrameScoreGroups() const {
  std::vector<ScoreGroup> out;
  for (int b = 0; b < kBins; ++b) out.push_back({static_cast<double>(b) / kBins, speech_[b], other_[b]});
  return out;
}

VadMetrics::AtThreshold VadMetrics::At(double threshold) const {
  const int edge = std::clamp(static_cast<int>(std::lround(threshold * kBins)), 0, kBins);
  double tp = 0, fn = 0, fp = 0, tn = 0;
  for (int b = 0; b < kBins; ++b) {
    if (b >= edge) tp += speech_[b], fp += other_[b];
    else fn += speech_[b], tn += other_[b];
  }
  AtThreshold r;
  r.threshold = static_cast<double>(edge) / kBins;
  r.precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  r.recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  r.f1 = r.precision + r.recall > 0 ? 2 * r.precision * r.recall / (r.precision + r.recall) : 0;
  r.miss_rate = tp + fn > 0 ? fn / (tp + fn) : 0;
  r.false_alarm_rate = fp + tn > 0 ? fp / (fp + tn) : 0;
  r.accuracy = tp + tn + fp + fn > 0 ? (tp + tn) / (tp + tn + fp + fn) : 0;
  return r;
}

VadMetrics::AtThreshold VadMetrics::BestF1() const {
  AtThreshold best = At(0.5);
  for (int edge = 1; edge < kBins; ++edge) {
    AtThreshold r = At(static_cast<double>(edge) / kBins);
    if (r.f1 > best.f1) best = r;
  }
  return best;
}

int64_t VadMetrics::speech_frames() const {
  double s = 0;
  for (double v : speech_) s += v;
  return static_cast<int64_t>(s);
}

int64_t VadMetrics::frames() const {
  double s = 0;
  for (int b = 0; b < kBins; ++b) s += speech_[b] + other_[b];
  return static_cast<int64_t>(s);
}

double VadMetrics::mean_onset_error_s() const { return matched_ > 0 ? onset_sum_ / matched_ : 0; }
double VadMetrics::mean_offset_error_s() const { return matched_ > 0 ? offset_sum_ / matched_ : 0; }
double VadMetrics::matched_fraction() const { return reference_segments_ > 0 ? matched_ / reference_segments_ : 0; }

}  // namespace chorus::tasks
