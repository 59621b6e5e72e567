#include "common/tasks/vad_postprocess.h"

#include <algorithm>
#include <cmath>

namespace chorus::tasks {

double VadOptions::release() const { return release_threshold >= 0 ? release_threshold : threshold - 0.15; }

nlohmann::json VadOptions::ToJson() const {
  nlohmann::json j = {{"threshold", threshold},       {"min_speech_ms", min_speech_ms},
                      {"min_silence_ms", min_silence_ms}, {"speech_pad_ms", speech_pad_ms},
                      {"max_speech_s", max_speech_s}, {"frame_seconds", frame_seconds}};
  if (release_threshold >= 0) j["release_threshold"] = release_threshold;
  return j;
}

Status VadOptions::Validate() const {
  auto bad = [](const char* key, const std::string& want) { return InvalidArgument(std::string(key) + " " + want); };
  if (!(threshold > 0 && threshold < 1)) return bad("threshold", "must be in (0, 1)");
  if (release_threshold >= 0 && !(release_threshold <= threshold)) return bad("release_threshold", "must be <= threshold");
  if (!(min_speech_ms >= 0 && min_speech_ms <= 60000)) return bad("min_speech_ms", "must be in [0, 60000]");
  if (!(min_silence_ms >= 0 && min_silence_ms <= 60000)) return bad("min_silence_ms", "must be in [0, 60000]");
  if (!(speech_pad_ms >= 0 && speech_pad_ms <= 10000)) return bad("speech_pad_ms", "must be in [0, 10000]");
  if (!(max_speech_s >= 0 && max_speech_s <= 86400)) return bad("max_speech_s", "must be in [0, 86400] (0: no limit)");
  if (!(frame_seconds > 0 && frame_seconds <= 1)) return bad("frame_seconds", "must be in (0, 1]");
  return Status::Ok();
}

Result<VadOptions> VadOptions::FromJson(const nlohmann::json& j) {
  VadOptions o;
  if (!j.is_object()) return InvalidArgument("voice-activity options must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (!value.is_number()) return InvalidArgument(key + " must be a number");
    const double v = value.get<double>();
    if (key == "threshold") o.threshold = v;
    else if (key == "release_threshold") o.release_threshold = v;
    else if (key == "min_speech_ms") o.min_speech_ms = v;
    else if (key == "min_silence_ms") o.min_silence_ms = v;
    else if (key == "speech_pad_ms") o.speech_pad_ms = v;
    else if (key == "max_speech_s") o.max_speech_s = v;
    else if (key == "frame_seconds") o.frame_seconds = v;
    else return InvalidArgument("unknown voice-activity option '" + key + "'");
  }
  RETURN_IF_ERROR(o.Validate());
  return o;
}

std::vector<Segment> SpeechSegments(const std::vector<float>& probabilities, const VadOptions& o) {
  const double fs = o.frame_seconds;
  const auto frames = [fs](double ms) { return static_cast<int64_t>(std::ceil(ms / 1000.0 / fs - 1e-9)); };
  const int64_t n = static_cast<int64_t>(probabilities.size());
  const int64_t min_speech = frames(o.min_speech_ms), min_silence = frames(o.min_silence_ms);
  const int64_t pad = frames(o.speech_pad_ms);
  const int64_t pause_at_max = frames(98);  // Silero: a pause this long can end an over-long segment
  const int64_t max_speech = o.max_speech_s > 0 ? std::max<int64_t>(1, frames(o.max_speech_s * 1000) - 1 - 2 * pad)
                                                : INT64_MAX;
  const double release = o.release();

  std::vector<std::pair<int64_t, int64_t>> speech;  // in frames
  bool triggered = false;
  int64_t start = 0, temp_end = 0, prev_end = 0, next_start = 0;
  bool has_temp_end = false;
  for (int64_t i = 0; i < n; ++i) {
    const float p = probabilities[i];
    if (p >= o.threshold && has_temp_end) {
      has_temp_end = false;
      if (next_start < prev_end) next_start = i;
    }
    if (p >= o.threshold && !triggered) {
      triggered = true;
      start = i;
      continue;
    }
    if (triggered && i - start > max_speech) {
      if (prev_end > 0) {
        speech.emplace_back(start, prev_end);
        if (next_start < prev_end) triggered = false;
        else start = next_start;
      } else {
        speech.emplace_back(start, i);
        triggered = false;
      }
      prev_end = next_start = 0;
      has_temp_end = false;
      continue;
    }
    if (p < release && triggered) {
      if (!has_temp_end) temp_end = i, has_temp_end = true;
      if (i - temp_end > pause_at_max) prev_end = temp_end;
      if (i - temp_end < min_silence) continue;
      if (temp_end - start > min_speech) speech.emplace_back(start, temp_end);
      prev_end = next_start = 0;
      has_temp_end = false;
      triggered = false;
    }
  }
  if (triggered && n - start > min_speech) speech.emplace_back(start, n);

  for (size_t k = 0; k < speech.size(); ++k) {
    if (k == 0) speech[k].first = std::max<int64_t>(0, speech[k].first - pad);
    if (k + 1 < speech.size()) {
      const int64_t gap = speech[k + 1].first - speech[k].second;
      if (gap < 2 * pad) {
        speech[k].second += gap / 2;
        speech[k + 1].first = std::max<int64_t>(0, speech[k + 1].first - gap / 2);
      } else {
        speech[k].second = std::min(n, speech[k].second + pad);
        speech[k + 1].first = std::max<int64_t>(0, speech[k + 1].first - pad);
      }
    } else {
      speech[k].second = std::min(n, speech[k].second + pad);
    }
  }
  std::vector<Segment> out;
  for (const auto& [a, b] : speech) out.emplace_back(a * fs, b * fs);
  return out;
}

std::optional<VadEvent> VadEventDetector::Push(float p) {
  const int64_t i = frame_++;
  const double fs = options_.frame_seconds;
  if (p >= options_.threshold) quiet_since_ = -1;
  if (p >= options_.threshold && !triggered_) {
    triggered_ = true;
    return VadEvent{true, std::max(0.0, i * fs - options_.speech_pad_ms / 1000.0)};
  }
  if (p < options_.release() && triggered_) {
    if (quiet_since_ < 0) quiet_since_ = i;
    if ((i - quiet_since_) * fs * 1000.0 < options_.min_silence_ms - 1e-9) return std::nullopt;
    const double end = quiet_since_ * fs + options_.speech_pad_ms / 1000.0;
    quiet_since_ = -1;
    triggered_ = false;
    return VadEvent{false, end};
  }
  return std::nullopt;
}

std::optional<VadEvent> VadEventDetector::Finish() {
  if (!triggered_) return std::nullopt;
  triggered_ = false;
  return VadEvent{false, frame_ * options_.frame_seconds};
}

}  // namespace chorus::tasks
