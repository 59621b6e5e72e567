#include "worker/train/clip_set.h"

#include <algorithm>
#include <atomic>
#include <numeric>
#include <thread>

#include "common/audio/wav_io.h"

namespace chorus::train {

ClipSet::ClipSet(std::vector<data::Example> examples, int sample_rate, int64_t clip_samples)
    : examples_(std::move(examples)), sample_rate_(sample_rate), clip_samples_(clip_samples),
      slots_(new Slot[examples_.size()]) {}

Result<const std::vector<float>*> ClipSet::Get(int64_t i) {
  Slot& slot = slots_[i];
  std::call_once(slot.once, [&] {
    if (examples_[i].path.empty()) return;
    audio::ReadOptions options;
    options.target_sample_rate = sample_rate_;
    Result<audio::Waveform> wave = audio::ReadAudio(examples_[i].path, options);
    if (!wave.ok()) slot.status = wave.status();
    else if (clip_samples_ > 0) slot.samples = audio::FitToLength(wave->samples, clip_samples_);
    else slot.samples = std::move(wave->samples);
  });
  if (!slot.status.ok()) return slot.status;
  return &slot.samples;
}

Status ClipSet::Preload(const std::vector<int64_t>& indices, int threads) {
  std::vector<int64_t> all;
  if (indices.empty()) {
    all.resize(examples_.size());
    std::iota(all.begin(), all.end(), 0);
  }
  const std::vector<int64_t>& todo = indices.empty() ? all : indices;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first;
  auto work = [&] {
    for (std::size_t k = next++; k < todo.size() && !failed; k = next++) {
      auto clip = Get(todo[k]);
      if (!clip.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (!failed.exchange(true)) first = clip.status();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return first;
}

Result<std::vector<audio::Waveform>> LoadNoise(const std::vector<std::string>& files, int sample_rate) {
  std::vector<audio::Waveform> noises;
  audio::ReadOptions options;
  options.target_sample_rate = sample_rate;
  for (const auto& f : files) {
    ASSIGN_OR_RETURN(audio::Waveform wave, audio::ReadAudio(f, options));
    noises.push_back(std::move(wave));
  }
  return noises;
}

}  // namespace chorus::train
