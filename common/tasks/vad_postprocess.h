// Voice-activity post-processing: speech probabilities per frame to speech
// segments (offline) or to start/end events as chunks arrive (incremental),
// with the parameters and semantics of Silero VAD's get_speech_timestamps and
// VADIterator, counted in frames of `frame_seconds` instead of samples:
//
//  - speech starts at the first frame whose probability reaches `threshold`;
//    it ends once the probability stays below the release threshold
//    (threshold - 0.15, or `release_threshold` when set) for min_silence_ms,
//    at the first of those quiet frames;
//  - offline: segments shorter than min_speech_ms are dropped; a segment
//    longer than max_speech_s is cut at the last pause of at least 98 ms
//    inside it, or, failing one, at the limit; each segment is padded by
//    speech_pad_ms on both sides, and where two segments are closer than
//    twice the pad the gap between them is split in half;
//  - incremental: a start event (padded back by speech_pad_ms) as soon as a
//    frame reaches the threshold, an end event (padded forward) once the
//    release has lasted min_silence_ms; no minimum length.
//
// Pure functions and a small state machine; thread-compatible.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/status.h"

namespace chorus::tasks {

struct VadOptions {
  double threshold = 0.5;
  double release_threshold = -1;  // < 0: threshold - 0.15
  double min_speech_ms = 250;
  double min_silence_ms = 100;
  double speech_pad_ms = 30;
  double max_speech_s = 0;        // 0: no limit
  double frame_seconds = 0.010;

  double release() const;
  nlohmann::json ToJson() const;
  // Missing keys keep their defaults; out-of-range values are errors naming the key.
  static Result<VadOptions> FromJson(const nlohmann::json& j);
  Status Validate() const;
};

using Segment = std::pair<double, double>;  // [start, end) seconds

// probabilities: one per frame, frame i covering [i, i+1) * frame_seconds.
std::vector<Segment> SpeechSegments(const std::vector<float>& probabilities, const VadOptions& options);

struct VadEvent {
  bool start = true;   // false: end
  double seconds = 0;
};

// Incremental detection, one probability at a time (VADIterator). Its whole
// state is a State, so a stream may stop here and go on elsewhere.
class VadEventDetector {
 public:
  struct State {
    int64_t frame = 0;         // frames pushed so far
    bool triggered = false;    // speech is open
    int64_t quiet_since = -1;  // first frame of the current release, -1 when none
  };
  explicit VadEventDetector(VadOptions options) : options_(options) {}
  VadEventDetector(VadOptions options, State state)
      : options_(options), frame_(state.frame), triggered_(state.triggered), quiet_since_(state.quiet_since) {}
  State state() const { return {frame_, triggered_, quiet_since_}; }
  // The event this frame completes, if any.
  std::optional<VadEvent> Push(float probability);
  // At the end of the stream: an end event when speech is still open.
  std::optional<VadEvent> Finish();
  bool in_speech() const { return triggered_; }

 private:
  VadOptions options_;
  int64_t frame_ = 0;
  bool triggered_ = false;
  int64_t quiet_since_ = -1;  // first frame of the current release, -1 when none
};

}  // namespace chorus::tasks
