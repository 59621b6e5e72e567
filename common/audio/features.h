// Front end: turns a mono waveform into a [frames, bins] float tensor.
//
//   kLogMel      log(mel power spectrum + 1e-6), Hann window, centred-free framing
//                (frames start at 0, step hop), FFT of n_fft points.
//   kMfcc        DCT-II (ortho) of kLogMel, first n_mfcc coefficients.
//   kKaldiFbank  Kaldi-compatible fbank, equal to torchaudio.compliance.kaldi.fbank
//                with the same window/hop/mel settings, dither 0, snip_edges true,
//                remove_dc_offset true, preemphasis 0.97, povey window,
//                round_to_power_of_two true, use_power true, use_log_fbank true.
//
// A FeatureExtractor is created through Create(), which validates the options,
// and is immutable afterwards: Compute() is thread-safe. Compute() runs on the
// calling thread with LibTorch's current intra-op thread setting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "common/audio/feature_options.h"
#include "common/util/status.h"

namespace chorus::audio {

class FeatureExtractor {
 public:
  static Result<FeatureExtractor> Create(const FeatureOptions& options);

  // samples: mono at options().sample_rate. Fewer samples than one window is an
  // InvalidArgument error. Returns float32 [NumFrames(n), NumBins()].
  Result<at::Tensor> Compute(const float* samples, int64_t num_samples) const;
  Result<at::Tensor> Compute(const std::vector<float>& samples) const {
    return Compute(samples.data(), static_cast<int64_t>(samples.size()));
  }

  // The features of frames that need not lie on one signal: starts[i] points
  // at the window_length() samples of frame i (frames of several streams
  // made at once). [starts.size(), NumBins()]; FailedPrecondition when the
  // options normalize over a recording (that needs the whole of it).
  Result<at::Tensor> ComputeFrames(const std::vector<const float*>& starts) const;
  int64_t NumFrames(int64_t num_samples) const;  // 0 when shorter than a window
  int64_t NumBins() const;                       // n_mels, or n_mfcc for kMfcc
  int64_t window_length() const { return window_length_; }  // samples per frame
  int64_t hop_length() const { return hop_length_; }        // samples between frame starts
  const FeatureOptions& options() const { return options_; }

 private:
  FeatureExtractor() = default;
  Result<at::Tensor> Frames(const std::vector<const float*>& starts) const;  // no checks, no normalization
  FeatureOptions options_;
  int64_t window_length_ = 0;
  int64_t hop_length_ = 0;
  int64_t n_fft_ = 0;
  at::Tensor window_;     // [window_length]
  at::Tensor mel_basis_;  // [n_fft/2+1, n_mels]
  at::Tensor dct_;        // [n_mels, n_mfcc] (kMfcc only)
};

}  // namespace chorus::audio
