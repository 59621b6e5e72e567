// Feature front end. The heavy steps are LibTorch calls (a batched rfft over
// a block of frames, a matmul with the precomputed mel basis, an in-place
// log); the per-frame preparation (DC removal, pre-emphasis, window, zero
// padding) is one fused pass written straight into the FFT input, instead of
// the half-dozen whole-tensor passes torchaudio makes. Frame i is the
// `window` samples starting at i * hop (snip_edges framing: what
// as_strided(x, {m, window}, {hop, 1}) views), read in place from the input.
// Frames go through in blocks of kBlockFrames so that temporaries stay
// cache-sized.
//
// Choices for kLogMel / kMfcc: a periodic Hann window (torch.hann_window's
// default, as torchaudio.transforms.Spectrogram uses), the window zero-padded
// to n_fft on the right, the HTK mel scale 2595 log10(1 + f/700) with
// triangular filters in Hz over FFT bins k * sample_rate / n_fft (torchaudio's
// melscale_fbanks, norm None), and log(mel + 1e-6). The window length is
// round(sample_rate * window_ms / 1000).
//
// kKaldiFbank follows torchaudio.compliance.kaldi.fbank step by step, in
// float32 and in the same order, so that it agrees to float rounding: window
// length int(sample_rate * window_ms * 0.001) (truncated, as Kaldi does), the
// povey window hann(periodic=false)^0.85, mel banks built with the same float32
// tensor ops, log(max(x, FLT_EPSILON)).
#include "common/audio/features.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/audio/wav_io.h"

namespace chorus::audio {
namespace {

constexpr double kKaldiPreemphasis = 0.97;
constexpr double kLogMelFloor = 1e-6;
// Frames per block in Compute(): 128 frames of 512 points keep a block's
// temporaries (about 0.7 MB) in L2.
constexpr int64_t kBlockFrames = 128;

std::string Num(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

// [K, n_mels] with K = n_fft/2 + 1 (last row, the Nyquist bin, zero), exactly
// as torchaudio.compliance.kaldi.get_mel_banks computes it (float32 ops).
at::Tensor KaldiMelBasis(int64_t n_mels, int64_t n_fft, double sample_rate, double low_freq, double high_freq) {
  auto mel_scalar = [](double f) { return 1127.0 * std::log(1.0 + f / 700.0); };
  const double fft_bin_width = sample_rate / static_cast<double>(n_fft);
  const double mel_low = mel_scalar(low_freq);
  const double mel_high = mel_scalar(high_freq);
  const double mel_delta = (mel_high - mel_low) / static_cast<double>(n_mels + 1);

  at::Tensor bin = torch::arange(n_mels, torch::kLong).unsqueeze(1);
  at::Tensor left = (bin * mel_delta) + mel_low;
  at::Tensor center = ((bin + 1.0) * mel_delta) + mel_low;
  at::Tensor right = ((bin + 2.0) * mel_delta) + mel_low;
  at::Tensor freq = torch::arange(static_cast<double>(n_fft / 2), torch::kFloat) * fft_bin_width;
  at::Tensor mel = (((freq / 700.0) + 1.0).log() * 1127.0).unsqueeze(0);
  at::Tensor up = (mel - left) / (center - left);
  at::Tensor down = (right - mel) / (right - center);
  at::Tensor banks = torch::max(torch::zeros(1), torch::min(up, down));  // [n_mels, n_fft/2]
  banks = torch::constant_pad_nd(banks, {0, 1}, 0);                      // [n_mels, n_fft/2 + 1]
  return banks.t().contiguous();
}

// [K, n_mels]: HTK-scale triangles over FFT bin frequencies (torchaudio
// melscale_fbanks, norm None), computed in double.
at::Tensor HtkMelBasis(int64_t n_mels, int64_t n_fft, double sample_rate, double f_min, double f_max) {
  auto hz_to_mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
  auto mel_to_hz = [](double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); };
  const int64_t k_bins = n_fft / 2 + 1;
  std::vector<double> f_pts(static_cast<size_t>(n_mels + 2));
  const double m_min = hz_to_mel(f_min);
  const double m_max = hz_to_mel(f_max);
  for (int64_t i = 0; i < n_mels + 2; ++i) {
    f_pts[static_cast<size_t>(i)] = mel_to_hz(m_min + (m_max - m_min) * static_cast<double>(i) / (n_mels + 1));
  }
  at::Tensor basis = torch::zeros({k_bins, n_mels}, torch::kFloat);
  auto acc = basis.accessor<float, 2>();
  for (int64_t k = 0; k < k_bins; ++k) {
    const double f = static_cast<double>(k) * sample_rate / static_cast<double>(n_fft);
    for (int64_t b = 0; b < n_mels; ++b) {
      const double lo = f_pts[static_cast<size_t>(b)];
      const double mid = f_pts[static_cast<size_t>(b + 1)];
      const double hi = f_pts[static_cast<size_t>(b + 2)];
      const double rising = (f - lo) / (mid - lo);
      const double falling = (hi - f) / (hi - mid);
      acc[k][b] = static_cast<float>(std::max(0.0, std::min(rising, falling)));
    }
  }
  return basis;
}

// [n_mels, n_mfcc]: orthonormal DCT-II, right-multiplied (torchaudio create_dct "ortho").
at::Tensor OrthoDct(int64_t n_mels, int64_t n_mfcc) {
  at::Tensor dct = torch::empty({n_mels, n_mfcc}, torch::kFloat);
  auto acc = dct.accessor<float, 2>();
  const double pi = 3.14159265358979323846;
  for (int64_t n = 0; n < n_mels; ++n) {
    for (int64_t k = 0; k < n_mfcc; ++k) {
      double v = std::cos(pi / static_cast<double>(n_mels) * (static_cast<double>(n) + 0.5) * static_cast<double>(k));
      v *= std::sqrt((k == 0 ? 1.0 : 2.0) / static_cast<double>(n_mels));
      acc[n][k] = static_cast<float>(v);
    }
  }
  return dct;
}

}  // namespace

// ---------------------------------------------------------------------------
// Options.

Result<FeatureExtractor> FeatureExtractor::Create(const FeatureOptions& options) {
  RETURN_IF_ERROR(ValidateFeatureOptions(options));
  FeatureExtractor fe;
  fe.options_ = options;
  fe.window_length_ = MsToSamples(options, options.window_ms);
  fe.hop_length_ = MsToSamples(options, options.hop_ms);
  fe.n_fft_ = options.n_fft > 0 ? options.n_fft : NextPowerOfTwo(fe.window_length_);
  try {
    at::NoGradGuard no_grad;
    const double f_max = EffectiveFMax(options);
    if (options.kind == FeatureKind::kKaldiFbank) {
      fe.window_ = torch::hann_window(fe.window_length_, /*periodic=*/false, torch::kFloat).pow(0.85).contiguous();
      fe.mel_basis_ = KaldiMelBasis(options.n_mels, fe.n_fft_, options.sample_rate, options.f_min, f_max);
    } else {
      fe.window_ = torch::hann_window(fe.window_length_, /*periodic=*/true, torch::kFloat).contiguous();
      fe.mel_basis_ = HtkMelBasis(options.n_mels, fe.n_fft_, options.sample_rate, options.f_min, f_max);
      if (options.kind == FeatureKind::kMfcc) fe.dct_ = OrthoDct(options.n_mels, options.n_mfcc);
    }
  } catch (const c10::Error& e) {
    return Internal(std::string("feature extractor setup failed: ") + e.what_without_backtrace());
  }
  return fe;
}

int64_t FeatureExtractor::NumFrames(int64_t num_samples) const {
  if (num_samples < window_length_) return 0;
  return 1 + (num_samples - window_length_) / hop_length_;
}

int64_t FeatureExtractor::NumBins() const {
  return options_.kind == FeatureKind::kMfcc ? options_.n_mfcc : options_.n_mels;
}

Result<at::Tensor> FeatureExtractor::Compute(const float* samples, int64_t num_samples) const {
  if (window_length_ == 0) return FailedPrecondition("feature extractor used before Create()");
  if (num_samples < window_length_ || samples == nullptr) {
    return InvalidArgument("feature extraction: " + std::to_string(std::max<int64_t>(num_samples, 0)) +
                           " samples is shorter than one window (" + std::to_string(window_length_) + " samples = " +
                           Num(options_.window_ms) + " ms at " + std::to_string(options_.sample_rate) + " Hz)");
  }
  std::vector<const float*> starts(static_cast<size_t>(NumFrames(num_samples)));
  for (size_t i = 0; i < starts.size(); ++i) starts[i] = samples + static_cast<int64_t>(i) * hop_length_;
  ASSIGN_OR_RETURN(at::Tensor mel, Frames(starts));
  if (options_.normalize != "none") {
    mel.sub_(mel.mean(0, /*keepdim=*/true));
    if (options_.normalize == "mean_var") mel.div_(mel.std(0, /*unbiased=*/false, /*keepdim=*/true).add_(1e-5));
  }
  return mel;
}

Result<at::Tensor> FeatureExtractor::ComputeFrames(const std::vector<const float*>& starts) const {
  if (window_length_ == 0) return FailedPrecondition("feature extractor used before Create()");
  if (options_.normalize != "none")
    return FailedPrecondition("features normalized over a recording (normalize: " + options_.normalize +
                              ") cannot be made frame by frame");
  return Frames(starts);
}

Result<at::Tensor> FeatureExtractor::Frames(const std::vector<const float*>& starts) const {
  try {
    at::NoGradGuard no_grad;
    const int64_t frames = static_cast<int64_t>(starts.size());
    const int64_t win = window_length_;
    const int64_t n_fft = n_fft_;
    const int64_t bins = n_fft / 2 + 1;
    const bool kaldi = options_.kind == FeatureKind::kKaldiFbank;
    const float* window = window_.data_ptr<float>();
    if (frames == 0) return at::empty({0, NumBins()}, at::kFloat);

    // Blocks of frames go through prepare -> rfft -> power -> mel one at a
    // time: the temporaries stay cache-sized and are recycled by malloc, where
    // whole-clip temporaries (tens of MB for a minute of audio) came back as
    // fresh pages from the kernel on many calls and doubled the run time.
    // With more than one intra-op thread, blocks run in parallel.
    at::Tensor mel = at::empty({frames, options_.n_mels}, at::kFloat);
    const int64_t blocks = (frames + kBlockFrames - 1) / kBlockFrames;
    at::parallel_for(0, blocks, 1, [&](int64_t block_begin, int64_t block_end) {
      const float preemph = static_cast<float>(kKaldiPreemphasis);
      for (int64_t block = block_begin; block < block_end; ++block) {
        const int64_t first = block * kBlockFrames;
        const int64_t count = std::min(kBlockFrames, frames - first);
        // Frame i = samples[i*hop, i*hop + win), prepared and zero-padded to n_fft.
        at::Tensor input = at::empty({count, n_fft}, at::kFloat);
        float* in = input.data_ptr<float>();
        for (int64_t i = 0; i < count; ++i) {
          const float* x = starts[first + i];
          float* y = in + i * n_fft;
          if (kaldi) {
            // remove_dc_offset, then pre-emphasis with y[0] using x[0] itself
            // (torchaudio's replicate padding), then the povey window. Eight
            // independent partial sums let the compiler vectorise the mean
            // (one serial chain of adds was the slowest step here).
            float lanes[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
            int64_t j = 0;
            for (; j + 8 <= win; j += 8) {
              for (int k = 0; k < 8; ++k) lanes[k] += x[j + k];
            }
            double sum = 0.0;
            for (; j < win; ++j) sum += x[j];
            for (float lane : lanes) sum += lane;
            const float mean = static_cast<float>(sum / static_cast<double>(win));
            y[0] = ((x[0] - mean) - preemph * (x[0] - mean)) * window[0];
            for (j = 1; j < win; ++j) y[j] = ((x[j] - mean) - preemph * (x[j - 1] - mean)) * window[j];
          } else {
            for (int64_t j = 0; j < win; ++j) y[j] = x[j] * window[j];
          }
          std::fill(y + win, y + n_fft, 0.0f);
        }

        const at::Tensor spectrum = torch::fft::rfft(input);  // [count, bins] complex64, contiguous
        at::Tensor power = at::empty({count, bins}, at::kFloat);
        const auto* z = reinterpret_cast<const float*>(spectrum.data_ptr<c10::complex<float>>());
        float* p = power.data_ptr<float>();
        for (int64_t i = 0; i < count * bins; ++i) p[i] = z[2 * i] * z[2 * i] + z[2 * i + 1] * z[2 * i + 1];

        at::Tensor rows = mel.narrow(0, first, count);  // contiguous rows of the result
        at::mm_out(rows, power, mel_basis_);
      }
    });

    if (kaldi) {
      mel.clamp_min_(std::numeric_limits<float>::epsilon()).log_();
    } else {
      mel.add_(kLogMelFloor).log_();
      if (options_.kind == FeatureKind::kMfcc) mel = at::mm(mel, dct_);
    }
    return mel;
  } catch (const c10::Error& e) {
    return Internal(std::string("feature extraction failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("feature extraction failed: ") + e.what());
  }
}

}  // namespace chorus::audio
