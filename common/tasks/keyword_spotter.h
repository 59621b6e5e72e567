// Keyword spotting over a stream: a clip classifier scored on a sliding
// window (the clip's length, every hop_ms), its class probabilities averaged
// over the last `smooth` windows. When the best keyword's average reaches
// `threshold` (and no keyword was reported less than refractory_ms before:
// one word spans several windows and is reported once), the spotter follows
// the peak: it reports the keyword of the window with the highest average
// once the average falls below the threshold again or peak_ms have passed
// (0: at once, at the first window over it), so a word heard only in part as
// it enters the window does not take the place of the whole word. The
// reported time is the end of that window: when the word was heard. At the
// stream's end a keyword being followed is reported. Labels that start with '_'
// ("_silence_", "_unknown_") are classes, never keywords. A window quieter
// than min_level_db (RMS, dB full scale) is not scored: it counts as no
// evidence for any keyword (probability 0 in the average).
//
// Pure: a small state machine whose whole state is a State, so a stream may
// stop after any window and go on elsewhere with the same results.
// Thread-compatible. No LibTorch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/status.h"

namespace chorus::tasks {

struct KeywordOptions {
  double hop_ms = 100;         // a window every hop
  int smooth = 3;              // windows averaged
  double threshold = 0.7;      // on the averaged probability
  double refractory_ms = 1000; // after a keyword, none for this long
  double peak_ms = 300;        // how long the peak is followed before a keyword is reported
  double min_level_db = -55;   // quieter windows are not scored

  nlohmann::json ToJson() const;
  // Missing keys keep their defaults; unknown keys and out-of-range values
  // are errors naming the key.
  static Result<KeywordOptions> FromJson(const nlohmann::json& j);
  Status Validate() const;
};

struct KeywordEvent {
  int label = 0;       // index into the classifier's labels
  double seconds = 0;  // the end of the window that reached the threshold
  float score = 0;     // its averaged probability
};

// Root-mean-square level of samples in dB full scale (-inf for silence).
double LevelDb(const float* samples, int64_t n);

class KeywordSpotter {
 public:
  struct State {
    std::vector<std::vector<float>> recent;  // the last smooth-1 windows' probabilities, oldest first
    int64_t last_keyword_window = -1;        // the window of the last keyword (-1: none)
    // The peak being followed (label -1: none): its keyword, average and window, and the window it began.
    int candidate = -1;
    float candidate_score = 0;
    int64_t candidate_window = 0, candidate_start = 0;
  };
  // labels: the classifier's classes, in output order.
  KeywordSpotter(KeywordOptions options, const std::vector<std::string>& labels, State state);
  KeywordSpotter(KeywordOptions options, const std::vector<std::string>& labels)
      : KeywordSpotter(options, labels, State()) {}

  // Window `window` (counted from 1, ending at window * hop_ms) with its
  // class probabilities, or nullptr when it was too quiet to score. Windows
  // come in order, each once.
  std::optional<KeywordEvent> Push(int64_t window, const float* probabilities);
  // At the stream's end: the keyword being followed, if any.
  std::optional<KeywordEvent> Finish();
  const State& state() const { return state_; }

 private:
  KeywordEvent Report();  // the candidate, which becomes the last keyword
  KeywordOptions options_;
  std::vector<bool> keyword_;  // per class: may be reported
  State state_;
};

}  // namespace chorus::tasks
