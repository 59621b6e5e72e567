// Feature options: names, validation, JSON, and the window arithmetic. No
// LibTorch here, so configuration code can validate without loading it.
#include "common/audio/feature_options.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/audio/wav_io.h"

#include "common/util/format.h"

namespace chorus::audio {

namespace {

std::string Num(double v) { return FormatNumber(v); }
Status Bad(const std::string& what) { return InvalidArgument("feature options: " + what); }

}  // namespace

int64_t NextPowerOfTwo(int64_t x) {
  int64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

int64_t MsToSamples(const FeatureOptions& o, double ms) {
  const double exact = static_cast<double>(o.sample_rate) * ms * 0.001;
  if (o.kind == FeatureKind::kKaldiFbank) return static_cast<int64_t>(exact);
  return static_cast<int64_t>(std::llround(static_cast<double>(o.sample_rate) * ms / 1000.0));
}

double Nyquist(const FeatureOptions& o) { return 0.5 * o.sample_rate; }

double EffectiveFMax(const FeatureOptions& o) {
  if (o.kind == FeatureKind::kKaldiFbank) return o.f_max <= 0.0 ? Nyquist(o) + o.f_max : o.f_max;
  return o.f_max == 0.0 ? Nyquist(o) : o.f_max;
}


Result<FeatureKind> ParseFeatureKind(const std::string& name) {
  if (name == "log_mel") return FeatureKind::kLogMel;
  if (name == "mfcc") return FeatureKind::kMfcc;
  if (name == "kaldi_fbank") return FeatureKind::kKaldiFbank;
  return InvalidArgument("unknown feature kind '" + name + "' (expected log_mel, mfcc or kaldi_fbank)");
}

const char* FeatureKindName(FeatureKind kind) {
  switch (kind) {
    case FeatureKind::kLogMel: return "log_mel";
    case FeatureKind::kMfcc: return "mfcc";
    case FeatureKind::kKaldiFbank: return "kaldi_fbank";
  }
  return "unknown";
}

Status ValidateFeatureOptions(const FeatureOptions& o) {
  if (o.kind != FeatureKind::kLogMel && o.kind != FeatureKind::kMfcc && o.kind != FeatureKind::kKaldiFbank) {
    return Bad("kind " + std::to_string(static_cast<int>(o.kind)) + " is not a feature kind");
  }
  if (o.sample_rate < kMinSampleRate || o.sample_rate > kMaxSampleRate) {
    return Bad("sample_rate " + std::to_string(o.sample_rate) + " Hz is outside [" + std::to_string(kMinSampleRate) +
               ", " + std::to_string(kMaxSampleRate) + "]");
  }
  if (!std::isfinite(o.window_ms) || o.window_ms <= 0.0) return Bad("window_ms " + Num(o.window_ms) + " must be > 0");
  if (!std::isfinite(o.hop_ms) || o.hop_ms <= 0.0) return Bad("hop_ms " + Num(o.hop_ms) + " must be > 0");
  const int64_t window = MsToSamples(o, o.window_ms);
  const int64_t hop = MsToSamples(o, o.hop_ms);
  if (window < 2 || window > kMaxFft) {
    return Bad("window_ms " + Num(o.window_ms) + " gives a window of " + std::to_string(window) + " samples at " +
               std::to_string(o.sample_rate) + " Hz (must be 2.." + std::to_string(kMaxFft) + ")");
  }
  if (hop < 1) {
    return Bad("hop_ms " + Num(o.hop_ms) + " gives a hop of 0 samples at " + std::to_string(o.sample_rate) + " Hz");
  }
  if (o.n_fft < 0) return Bad("n_fft " + std::to_string(o.n_fft) + " must be >= 0 (0: next power of two)");
  if (o.n_fft > 0 && o.n_fft < window) {
    return Bad("n_fft " + std::to_string(o.n_fft) + " is shorter than the window (" + std::to_string(window) +
               " samples)");
  }
  if (o.n_fft > kMaxFft) return Bad("n_fft " + std::to_string(o.n_fft) + " exceeds " + std::to_string(kMaxFft));
  if (o.kind == FeatureKind::kKaldiFbank && o.n_fft != 0 && o.n_fft != NextPowerOfTwo(window)) {
    return Bad("n_fft " + std::to_string(o.n_fft) + " must be 0 or " + std::to_string(NextPowerOfTwo(window)) +
               " for kaldi_fbank (Kaldi pads the window to the next power of two)");
  }
  const int64_t n_fft = o.n_fft > 0 ? o.n_fft : NextPowerOfTwo(window);
  const int min_mels = o.kind == FeatureKind::kKaldiFbank ? 4 : 1;
  if (o.n_mels < min_mels) {
    return Bad("n_mels " + std::to_string(o.n_mels) + " must be >= " + std::to_string(min_mels) + " for " +
               FeatureKindName(o.kind));
  }
  if (o.n_mels > n_fft / 2 + 1) {
    return Bad("n_mels " + std::to_string(o.n_mels) + " exceeds the " + std::to_string(n_fft / 2 + 1) +
               " FFT bins of n_fft " + std::to_string(n_fft));
  }
  const double nyquist = Nyquist(o);
  if (!std::isfinite(o.f_min) || o.f_min < 0.0 || o.f_min >= nyquist) {
    return Bad("f_min " + Num(o.f_min) + " Hz must be in [0, Nyquist " + Num(nyquist) + ")");
  }
  if (!std::isfinite(o.f_max)) return Bad("f_max " + Num(o.f_max) + " is not finite");
  if (o.kind != FeatureKind::kKaldiFbank && o.f_max < 0.0) {
    return Bad("f_max " + Num(o.f_max) + " is negative (an offset from Nyquist is only meaningful for kaldi_fbank)");
  }
  const double f_max = EffectiveFMax(o);
  if (f_max <= 0.0 || f_max > nyquist) {
    return Bad("f_max " + Num(o.f_max) + " gives " + Num(f_max) + " Hz, outside (0, Nyquist " + Num(nyquist) + "]");
  }
  if (o.f_min >= f_max) return Bad("f_min " + Num(o.f_min) + " must be below f_max (" + Num(f_max) + " Hz)");
  if (o.kind == FeatureKind::kMfcc && (o.n_mfcc < 1 || o.n_mfcc > o.n_mels)) {
    return Bad("n_mfcc " + std::to_string(o.n_mfcc) + " must be in [1, n_mels " + std::to_string(o.n_mels) + "]");
  }
  if (o.normalize != "none" && o.normalize != "mean" && o.normalize != "mean_var") {
    return Bad("normalize '" + o.normalize + "' must be none, mean or mean_var");
  }
  return Status::Ok();
}

nlohmann::json FeatureOptionsToJson(const FeatureOptions& o) {
  return nlohmann::json{{"kind", FeatureKindName(o.kind)}, {"sample_rate", o.sample_rate},
                        {"window_ms", o.window_ms},        {"hop_ms", o.hop_ms},
                        {"n_fft", o.n_fft},                {"n_mels", o.n_mels},
                        {"f_min", o.f_min},                {"f_max", o.f_max},
                        {"n_mfcc", o.n_mfcc},              {"normalize", o.normalize}};
}

Result<FeatureOptions> FeatureOptionsFromJson(const nlohmann::json& json) {
  if (!json.is_object()) return Bad("expected a JSON object, got " + std::string(json.type_name()));
  FeatureOptions o;
  for (auto it = json.begin(); it != json.end(); ++it) {
    const std::string& key = it.key();
    const nlohmann::json& v = it.value();
    auto get_int = [&](int& out) -> Status {
      if (!v.is_number_integer()) return Bad("key '" + key + "' must be an integer, got " + v.dump());
      const int64_t x = v.get<int64_t>();
      if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) {
        return Bad("key '" + key + "' value " + v.dump() + " is out of range");
      }
      out = static_cast<int>(x);
      return Status::Ok();
    };
    auto get_double = [&](double& out) -> Status {
      if (!v.is_number()) return Bad("key '" + key + "' must be a number, got " + v.dump());
      out = v.get<double>();
      return Status::Ok();
    };
    if (key == "kind") {
      if (!v.is_string()) return Bad("key 'kind' must be a string, got " + v.dump());
      auto kind = ParseFeatureKind(v.get<std::string>());
      if (!kind.ok()) return kind.status().WithContext("feature options: key 'kind'");
      o.kind = *kind;
    } else if (key == "sample_rate") {
      RETURN_IF_ERROR(get_int(o.sample_rate));
    } else if (key == "window_ms") {
      RETURN_IF_ERROR(get_double(o.window_ms));
    } else if (key == "hop_ms") {
      RETURN_IF_ERROR(get_double(o.hop_ms));
    } else if (key == "n_fft") {
      RETURN_IF_ERROR(get_int(o.n_fft));
    } else if (key == "n_mels") {
      RETURN_IF_ERROR(get_int(o.n_mels));
    } else if (key == "f_min") {
      RETURN_IF_ERROR(get_double(o.f_min));
    } else if (key == "f_max") {
      RETURN_IF_ERROR(get_double(o.f_max));
    } else if (key == "n_mfcc") {
      RETURN_IF_ERROR(get_int(o.n_mfcc));
    } else if (key == "normalize") {
      if (!v.is_string()) return Bad("key 'normalize' must be a string, got " + v.dump());
      o.normalize = v.get<std::string>();
    } else {
      return Bad("unknown key '" + key + "'");
    }
  }
  RETURN_IF_ERROR(ValidateFeatureOptions(o));
  return o;
}

}  // namespace chorus::audio
