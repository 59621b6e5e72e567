#include "worker/train/clip_set.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "common/audio/wav_io.h"

namespace chorus::train {

std::vector<float> FitToLength(const std::vector<float>& samples, int64_t length) {
  const int64_t n = static_cast<int64_t>(samples.size());
  std::vector<float> out(length, 0.0f);
  if (n >= length) {
    const int64_t start = (n - length) / 2;
    std::copy(samples.begin() + start, samples.begin() + start + length, out.begin());
  } else {
    const int64_t offset = (length - n) / 2;
    std::copy(samples.begin(), samples.end(), out.begin() + offset);
  }
  return out;
}

Result<ClipSet> LoadClips(const std::vector<data::Example>& examples, int sample_rate, int64_t clip_samples,
                          int threads) {
  ClipSet set;
  set.clip_samples = clip_samples;
  set.clips.resize(examples.size());
  set.labels.resize(examples.size());
  std::atomic<std::size_t> next{0};
  std::mutex error_mutex;
  Status first_error;
  std::atomic<bool> failed{false};
  auto work = [&] {
    audio::ReadOptions options;
    options.target_sample_rate = sample_rate;
    for (std::size_t i = next++; i < examples.size() && !failed; i = next++) {
      set.labels[i] = examples[i].label;
      if (examples[i].path.empty()) continue;
      Result<audio::Waveform> wave = audio::ReadAudio(examples[i].path, options);
      if (!wave.ok()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!failed.exchange(true)) first_error = wave.status();
        return;
      }
      set.clips[i] = FitToLength(wave->samples, clip_samples);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failed) return first_error;
  return set;
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
