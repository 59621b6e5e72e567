// FeatureOptions: the front-end settings a model is trained with and served
// with (saved beside exported weights). Kept free of LibTorch so that config
// parsing and the coordinator can validate them cheaply. Plain value types.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "common/util/status.h"

namespace chorus::audio {

enum class FeatureKind { kLogMel, kMfcc, kKaldiFbank };

Result<FeatureKind> ParseFeatureKind(const std::string& name);  // "log_mel", "mfcc", "kaldi_fbank"
const char* FeatureKindName(FeatureKind kind);

struct FeatureOptions {
  FeatureKind kind = FeatureKind::kLogMel;
  int sample_rate = 16000;
  double window_ms = 25.0;
  double hop_ms = 10.0;
  int n_fft = 0;        // 0: the next power of two >= the window length
  int n_mels = 40;
  double f_min = 20.0;
  double f_max = 0.0;   // 0: Nyquist (for Kaldi: a value <= 0 is an offset from Nyquist)
  int n_mfcc = 13;      // kMfcc only
  // Per-utterance normalisation of every bin over time: "none", "mean"
  // (cepstral mean normalisation) or "mean_var" (also unit variance). Removes
  // channel and loudness differences between recordings.
  std::string normalize = "none";
};

// Checks ranges (positive sizes, f_min < f_max <= Nyquist, n_mfcc <= n_mels, ...).
Status ValidateFeatureOptions(const FeatureOptions& options);

nlohmann::json FeatureOptionsToJson(const FeatureOptions& options);
Result<FeatureOptions> FeatureOptionsFromJson(const nlohmann::json& json);

// Arithmetic shared by validation and the extractor.
inline constexpr int64_t kMaxFft = int64_t{1} << 20;
int64_t NextPowerOfTwo(int64_t x);
// Window/hop in samples. Kaldi (and torchaudio) truncate sr * ms * 0.001, in
// that order of double operations; the others round to nearest.
int64_t MsToSamples(const FeatureOptions& o, double ms);
double Nyquist(const FeatureOptions& o);
// f_max as used: 0 means Nyquist; for Kaldi a negative value is an offset from it.
double EffectiveFMax(const FeatureOptions& o);

}  // namespace chorus::audio
