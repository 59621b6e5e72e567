#include "common/tasks/keyword_spotter.h"

#include <cmath>
#include <limits>

namespace chorus::tasks {

nlohmann::json KeywordOptions::ToJson() const {
  return {{"hop_ms", hop_ms},
          {"smooth", smooth},
          {"threshold", threshold},
          {"refractory_ms", refractory_ms},
          {"peak_ms", peak_ms},
          {"min_level_db", min_level_db}};
}

Status KeywordOptions::Validate() const {
  auto bad = [](const char* key, const std::string& want) { return InvalidArgument(std::string(key) + " " + want); };
  if (!(hop_ms >= 10 && hop_ms <= 10000)) return bad("hop_ms", "must be in [10, 10000]");
  if (!(smooth >= 1 && smooth <= 50)) return bad("smooth", "must be in [1, 50]");
  if (!(threshold > 0 && threshold <= 1)) return bad("threshold", "must be in (0, 1]");
  if (!(refractory_ms >= 0 && refractory_ms <= 60000)) return bad("refractory_ms", "must be in [0, 60000]");
  if (!(peak_ms >= 0 && peak_ms <= 10000)) return bad("peak_ms", "must be in [0, 10000]");
  if (!(min_level_db >= -200 && min_level_db <= 0)) return bad("min_level_db", "must be in [-200, 0] (dB full scale)");
  return Status::Ok();
}

Result<KeywordOptions> KeywordOptions::FromJson(const nlohmann::json& j) {
  KeywordOptions o;
  if (!j.is_object()) return InvalidArgument("keyword-spotting options must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (!value.is_number()) return InvalidArgument(key + " must be a number");
    const double v = value.get<double>();
    if (key == "hop_ms") o.hop_ms = v;
    else if (key == "smooth") {
      if (v != std::floor(v)) return InvalidArgument("smooth must be a whole number of windows");
      o.smooth = v >= 1 && v <= 50 ? static_cast<int>(v) : 0;
    } else if (key == "threshold") o.threshold = v;
    else if (key == "refractory_ms") o.refractory_ms = v;
    else if (key == "peak_ms") o.peak_ms = v;
    else if (key == "min_level_db") o.min_level_db = v;
    else return InvalidArgument("unknown keyword-spotting option '" + key + "'");
  }
  RETURN_IF_ERROR(o.Validate());
  return o;
}

double LevelDb(const float* samples, int64_t n) {
  double energy = 0;
  for (int64_t i = 0; i < n; ++i) energy += static_cast<double>(samples[i]) * samples[i];
  if (n <= 0 || energy <= 0) return -std::numeric_limits<double>::infinity();
  return 10 * std::log10(energy / static_cast<double>(n));
}

KeywordSpotter::KeywordSpotter(KeywordOptions options, const std::vector<std::string>& labels, State state)
    : options_(options), state_(std::move(state)) {
  for (const auto& l : labels) keyword_.push_back(l.empty() || l[0] != '_');
  const size_t keep = static_cast<size_t>(options_.smooth - 1);
  if (state_.recent.size() > keep) state_.recent.erase(state_.recent.begin(), state_.recent.end() - keep);
}

std::optional<KeywordEvent> KeywordSpotter::Push(int64_t window, const float* probabilities) {
  const size_t classes = keyword_.size();
  std::vector<float> now(classes, 0.0f);  // a quiet window: no evidence
  if (probabilities) now.assign(probabilities, probabilities + classes);
  // The average over this window and the kept ones (fewer at the start).
  std::vector<double> mean(now.begin(), now.end());
  for (const auto& r : state_.recent)
    for (size_t c = 0; c < classes && c < r.size(); ++c) mean[c] += r[c];
  const double n = static_cast<double>(state_.recent.size() + 1);
  const size_t keep = static_cast<size_t>(options_.smooth - 1);
  if (keep > 0) {
    state_.recent.push_back(std::move(now));
    if (state_.recent.size() > keep) state_.recent.erase(state_.recent.begin());
  }
  int best = -1;
  for (size_t c = 0; c < classes; ++c)
    if (keyword_[c] && (best < 0 || mean[c] > mean[static_cast<size_t>(best)])) best = static_cast<int>(c);
  const double score = best < 0 ? 0.0 : mean[static_cast<size_t>(best)] / n;
  const bool over = best >= 0 && score >= options_.threshold;
  if (state_.candidate >= 0) {  // following a peak
    if (over && score > state_.candidate_score) {
      state_.candidate = best;
      state_.candidate_score = static_cast<float>(score);
      state_.candidate_window = window;
    }
    if (!over || static_cast<double>(window - state_.candidate_start) * options_.hop_ms >= options_.peak_ms)
      return Report();
    return std::nullopt;
  }
  if (!over) return std::nullopt;
  if (state_.last_keyword_window >= 0 &&
      static_cast<double>(window - state_.last_keyword_window) * options_.hop_ms < options_.refractory_ms)
    return std::nullopt;
  state_.candidate = best;
  state_.candidate_score = static_cast<float>(score);
  state_.candidate_window = state_.candidate_start = window;
  if (options_.peak_ms <= 0) return Report();
  return std::nullopt;
}

std::optional<KeywordEvent> KeywordSpotter::Finish() {
  if (state_.candidate < 0) return std::nullopt;
  return Report();
}

KeywordEvent KeywordSpotter::Report() {
  const KeywordEvent e{state_.candidate, static_cast<double>(state_.candidate_window) * options_.hop_ms / 1000.0,
                       state_.candidate_score};
  state_.last_keyword_window = state_.candidate_window;
  state_.candidate = -1;
  return e;
}

}  // namespace chorus::tasks
