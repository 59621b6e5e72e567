// ClipSet: the examples of one split as fixed-length clips at the model's
// sample rate (shorter clips centred and zero-padded, longer ones centre-
// cropped), or, with clip_samples 0, as whole recordings of any length. Clips are decoded on first use and kept, so a rank only ever reads
// the files of its own shards; Preload() decodes a known set up front on
// several threads so that bad files are reported before training starts.
// Silence examples (empty path) hold no samples; the batch loader fills them
// with background noise. Get() and Preload() are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/audio/waveform.h"
#include "common/data/example.h"
#include "common/util/status.h"

namespace chorus::train {

class ClipSet {
 public:
  ClipSet(std::vector<data::Example> examples, int sample_rate, int64_t clip_samples);

  int64_t size() const { return static_cast<int64_t>(examples_.size()); }
  int64_t clip_samples() const { return clip_samples_; }
  const data::Example& example(int64_t i) const { return examples_[i]; }
  const std::vector<data::Example>& examples() const { return examples_; }
  bool is_silence(int64_t i) const { return examples_[i].path.empty(); }

  // The clip or recording (empty for silence), decoding it on first use. An unreadable file
  // is an error naming it, every time it is asked for.
  Result<const std::vector<float>*> Get(int64_t i);

  // Decodes the given examples (all when `indices` is empty) on `threads` threads.
  Status Preload(const std::vector<int64_t>& indices, int threads);

 private:
  struct Slot {
    std::once_flag once;
    std::vector<float> samples;
    Status status;
  };
  std::vector<data::Example> examples_;
  int sample_rate_;
  int64_t clip_samples_;
  std::unique_ptr<Slot[]> slots_;
};

// Background noise files, resampled to sample_rate (whole files, not clipped).
Result<std::vector<audio::Waveform>> LoadNoise(const std::vector<std::string>& files, int sample_rate);

}  // namespace chorus::train
