// Reading and writing audio files through libsndfile (WAV, FLAC and whatever
// else libsndfile decodes). Reading mixes every channel down to mono, converts
// int16/int32/float to float in [-1, 1] and, when asked, resamples with soxr.
//
// Every failure is a Status naming the file (or the name given for in-memory
// bytes) and the reason: missing, empty, truncated, corrupt or non-audio data,
// zero-length audio, or an absurd sample rate. No function here returns an
// empty or all-zero waveform in place of an error. Thread-safe.
#pragma once

#include <string>

#include "common/audio/waveform.h"
#include "common/util/status.h"

namespace chorus::audio {

// Sample rates outside this range are refused as absurd.
inline constexpr int kMinSampleRate = 1000;
inline constexpr int kMaxSampleRate = 384000;

struct ReadOptions {
  int target_sample_rate = 0;  // 0 keeps the file's rate; otherwise resample to it
  // > 0: audio longer than this is refused from its header, before a sample
  // is decoded or resampled (a small 8-bit file at 1 kHz can hold hours).
  double max_seconds = 0;
};

Result<Waveform> ReadAudio(const std::string& path, const ReadOptions& options = {});

// Decodes a whole file held in memory (an HTTP body, a ZeroMQ frame).
// `name` only appears in error messages.
Result<Waveform> DecodeAudio(const std::string& bytes, const std::string& name, const ReadOptions& options = {});

enum class SampleFormat { kPcm16, kFloat32 };

struct WriteOptions {
  SampleFormat format = SampleFormat::kPcm16;
  bool flac = false;  // FLAC container (PCM16 only) instead of WAV
};

// Writes atomically (temporary file + rename). Samples are clipped to [-1, 1].
Status WriteAudio(const std::string& path, const Waveform& wave, const WriteOptions& options = {});

}  // namespace chorus::audio
