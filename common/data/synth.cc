#include "common/data/synth.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "common/audio/resample.h"
#include "common/audio/wav_io.h"
#include "common/data/data_internal.h"
#include "common/data/espeak_voice.h"
#include "common/data/noise.h"
#include "common/util/fs.h"

namespace chorus::data {

const std::vector<std::string>& CommandWords() {
  static const std::vector<std::string> kWords = {"yes",   "no", "up",  "down", "left",
                                                  "right", "on", "off", "stop", "go"};
  return kWords;
}

const std::vector<std::string>& DigitWords() {
  static const std::vector<std::string> kWords = {"zero", "one", "two",   "three", "four",
                                                  "five", "six", "seven", "eight", "nine"};
  return kWords;
}

const std::vector<std::string>& OtherWords() {
  // The auxiliary words of Google Speech Commands v1.
  static const std::vector<std::string> kWords = {"bed",   "bird",   "cat",    "dog",  "happy",
                                                  "house", "marvin", "sheila", "tree", "wow"};
  return kWords;
}

namespace {

using internal::JoinPath;
using internal::Rng;

constexpr int kMinSynthSampleRate = 8000;
constexpr int kMaxSynthSampleRate = 48000;
constexpr double kMaxClipSeconds = 60.0;
constexpr double kMaxNoiseSeconds = 600.0;
constexpr int kMaxVoices = 10000;
constexpr int kMaxTakes = 1000;
constexpr int kMaxNoiseFiles = 1000;
constexpr int64_t kMaxSynthThreads = 8;

std::string WordsDescription(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

Status WriteMetadata(const SynthOptions& options, const std::vector<std::string>& words,
                     const std::vector<Voice>& voices, const std::vector<std::string>& noise_names) {
  std::ostringstream json;
  json << "{\n  \"seed\": " << options.seed << ",\n  \"sample_rate\": " << options.sample_rate
       << ",\n  \"clip_seconds\": " << options.clip_seconds << ",\n  \"takes_per_voice\": " << options.takes_per_voice
       << ",\n  \"words\": [";
  for (size_t i = 0; i < words.size(); ++i) json << (i ? ", " : "") << "\"" << words[i] << "\"";
  json << "],\n  \"voices\": [\n";
  for (size_t i = 0; i < voices.size(); ++i) {
    const Voice& v = voices[i];
    json << "    {\"id\": \"" << v.id << "\", \"voice\": \"" << v.language << "\", \"variant\": \"" << v.variant
         << "\", \"pitch\": " << v.pitch << ", \"range\": " << v.range << ", \"rate\": " << v.rate << "}"
         << (i + 1 < voices.size() ? "," : "") << "\n";
  }
  json << "  ],\n  \"noise_files\": [";
  for (size_t i = 0; i < noise_names.size(); ++i) json << (i ? ", " : "") << "\"" << noise_names[i] << "\"";
  json << "]\n}\n";
  RETURN_IF_ERROR(AtomicWriteFile(JoinPath(options.root, "voices.json"), json.str()));

  std::ostringstream readme;
  readme << "Synthetic speech commands made with libespeak-ng by Chorus (chorus::data::SynthesizeDataset).\n"
         << "Layout: <word>/<speakerid>_nohash_<take>.wav, _background_noise_/*.wav (Google Speech Commands).\n"
         << "Each speaker is one espeak-ng voice setting (accent+variant, pitch, range, rate); the speaker id is\n"
         << "the first 8 hex digits of SHA-1 of the setting string. voices.json lists them.\n"
         << "Clips: 16-bit mono, " << options.sample_rate << " Hz, " << options.clip_seconds << " s; " << voices.size()
         << " voices x " << options.takes_per_voice << " take(s) x " << words.size() << " words; seed " << options.seed
         << ".\n"
         << "Words: " << WordsDescription(words) << "\n";
  return AtomicWriteFile(JoinPath(options.root, "README.txt"), readme.str());
}

std::vector<std::string> EffectiveWords(const SynthOptions& options) {
  if (!options.words.empty()) return options.words;
  std::vector<std::string> words = CommandWords();
  for (const auto* list : {&DigitWords(), &OtherWords()}) words.insert(words.end(), list->begin(), list->end());
  return words;
}

// Synthesizes `word` with `voice` once and writes its takes; on_clip() after each.
Status MakeClips(const SynthOptions& options, const std::string& word, const Voice& voice,
                 const std::function<void()>& on_clip) {
  const std::string what = "synth: word '" + word + "', voice '" + voice.Setting() + "'";
  const size_t clip_len = static_cast<size_t>(std::llround(options.clip_seconds * options.sample_rate));
  const std::string word_dir = JoinPath(options.root, word);
  ASSIGN_OR_RETURN(SpokenWord raw, SpeakWord(voice, word));
  RETURN_IF_ERROR(TrimAndNormalize(raw.samples, raw.sample_rate, what));
  for (int take = 0; take < options.takes_per_voice; ++take) {
    // Each clip's randomness depends only on (seed, word, voice, take).
    Rng rng(internal::MixSeed(internal::MixSeed(options.seed, internal::HashString(word)),
                              internal::HashString(voice.id + "/" + std::to_string(take))));
    // Jitter: +-4% speed (and pitch) by resampling from a nudged rate, a gain
    // in [0.5, 1] of a 0.95 peak, and a random place in the clip.
    const double speed = rng.Uniform(0.96, 1.04);
    const int from_rate = static_cast<int>(std::lround(raw.sample_rate * speed));
    auto resampled = audio::Resample(raw.samples, from_rate, options.sample_rate);
    if (!resampled.ok()) return resampled.status().WithContext(what);
    const std::vector<float>& speech = resampled.value();
    const float gain = static_cast<float>(0.95 * rng.Uniform(0.5, 1.0));

    std::vector<float> clip(clip_len, 0.0f);
    size_t src = 0, dst = 0, len = speech.size();
    if (len <= clip_len) {
      dst = static_cast<size_t>(rng.Int(0, static_cast<int64_t>(clip_len - len)));
    } else {
      src = (len - clip_len) / 2;  // centre crop
      len = clip_len;
    }
    for (size_t i = 0; i < len; ++i) clip[dst + i] = gain * speech[src + i];

    const std::string path = JoinPath(word_dir, voice.id + "_nohash_" + std::to_string(take) + ".wav");
    RETURN_IF_ERROR(audio::WriteAudio(path, audio::Waveform{std::move(clip), options.sample_rate}));
    on_clip();
  }
  return Status::Ok();
}

}  // namespace

Status ValidateSynthOptions(const SynthOptions& options) {
  if (options.root.empty()) return InvalidArgument("synth: root is empty");
  if (options.num_voices < 1 || options.num_voices > kMaxVoices) {
    return InvalidArgument("synth: num_voices must be in [1, " + std::to_string(kMaxVoices) + "], got " +
                           std::to_string(options.num_voices));
  }
  if (options.takes_per_voice < 1 || options.takes_per_voice > kMaxTakes) {
    return InvalidArgument("synth: takes_per_voice must be in [1, " + std::to_string(kMaxTakes) + "], got " +
                           std::to_string(options.takes_per_voice));
  }
  if (options.sample_rate < kMinSynthSampleRate || options.sample_rate > kMaxSynthSampleRate) {
    return InvalidArgument("synth: sample_rate must be in [" + std::to_string(kMinSynthSampleRate) + ", " +
                           std::to_string(kMaxSynthSampleRate) + "] Hz, got " + std::to_string(options.sample_rate));
  }
  if (!std::isfinite(options.clip_seconds) || options.clip_seconds <= 0.0 || options.clip_seconds > kMaxClipSeconds ||
      std::llround(options.clip_seconds * options.sample_rate) < 1) {
    return InvalidArgument("synth: clip_seconds must be in (0, " + std::to_string(kMaxClipSeconds) + "], got " +
                           std::to_string(options.clip_seconds));
  }
  if (options.noise_files < 0 || options.noise_files > kMaxNoiseFiles) {
    return InvalidArgument("synth: noise_files must be in [0, " + std::to_string(kMaxNoiseFiles) + "], got " +
                           std::to_string(options.noise_files));
  }
  if (options.noise_files > 0 &&
      (!std::isfinite(options.noise_seconds) || options.noise_seconds <= 0.0 ||
       options.noise_seconds > kMaxNoiseSeconds || std::llround(options.noise_seconds * options.sample_rate) < 1)) {
    return InvalidArgument("synth: noise_seconds must be in (0, " + std::to_string(kMaxNoiseSeconds) + "], got " +
                           std::to_string(options.noise_seconds));
  }
  const std::vector<std::string> words = EffectiveWords(options);
  if (words.empty()) return InvalidArgument("synth: no words");
  std::set<std::string> seen;
  for (const auto& w : words) {
    bool ok = !w.empty() && w.size() <= 64 && std::isalnum(static_cast<unsigned char>(w[0]));
    for (unsigned char c : w) ok = ok && (std::isalnum(c) || c == '-' || c == '\'');
    if (!ok) {
      return InvalidArgument("synth: word '" + w +
                             "' is not usable as a folder name (letters, digits, '-' and '\\'' only, "
                             "starting with a letter or digit, at most 64 characters)");
    }
    if (!seen.insert(w).second) return InvalidArgument("synth: word '" + w + "' listed twice");
  }
  return Status::Ok();
}

Status SynthesizeDataset(const SynthOptions& options, const std::function<void(int64_t, int64_t)>& progress) {
  RETURN_IF_ERROR(ValidateSynthOptions(options));
  const std::vector<std::string> words = EffectiveWords(options);
  const std::vector<Voice> voices = MakeVoices(options.num_voices, options.seed);
  RETURN_IF_ERROR(MakeDirs(options.root));

  // Background noise.
  std::vector<std::string> noise_names;
  if (options.noise_files > 0) {
    const std::string noise_dir = JoinPath(options.root, "_background_noise_");
    RETURN_IF_ERROR(MakeDirs(noise_dir));
    for (int i = 0; i < options.noise_files; ++i) {
      NoiseFile noise = MakeNoise(i, options.noise_seconds, options.sample_rate, options.seed);
      audio::Waveform wave{std::move(noise.samples), options.sample_rate};
      RETURN_IF_ERROR(audio::WriteAudio(JoinPath(noise_dir, noise.name), wave));
      noise_names.push_back(noise.name);
    }
  }

  for (const auto& word : words) RETURN_IF_ERROR(MakeDirs(JoinPath(options.root, word)));

  // (word, voice) pairs run on a few threads; each clip depends only on its own
  // inputs, so the files do not depend on the schedule. Progress is reported
  // from this thread.
  const int64_t num_pairs = static_cast<int64_t>(words.size()) * static_cast<int64_t>(voices.size());
  const int64_t total = num_pairs * options.takes_per_voice;
  const int64_t num_threads =
      std::min<int64_t>({num_pairs, kMaxSynthThreads, std::max<int64_t>(1, std::thread::hardware_concurrency())});
  std::mutex mu;
  std::condition_variable cv;
  int64_t next_pair = 0;
  int64_t clips_done = 0;
  int64_t threads_running = num_threads;
  int64_t failed_pair = -1;  // the lowest failed pair, for a deterministic error
  Status first_error;
  auto worker = [&] {
    for (;;) {
      int64_t pair;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (next_pair >= num_pairs || failed_pair >= 0) break;
        pair = next_pair++;
      }
      const std::string& word = words[static_cast<size_t>(pair / static_cast<int64_t>(voices.size()))];
      const Voice& voice = voices[static_cast<size_t>(pair % static_cast<int64_t>(voices.size()))];
      Status st = MakeClips(options, word, voice, [&] {
        std::lock_guard<std::mutex> lock(mu);
        ++clips_done;
        cv.notify_all();
      });
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (failed_pair < 0 || pair < failed_pair) {
          failed_pair = pair;
          first_error = st;
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    --threads_running;
    cv.notify_all();
  };
  std::vector<std::thread> threads;
  for (int64_t i = 0; i < num_threads; ++i) threads.emplace_back(worker);
  int64_t reported = 0;
  {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return clips_done > reported || threads_running == 0; });
      const int64_t target = clips_done;
      const bool finished = threads_running == 0;
      if (progress && reported < target) {
        lock.unlock();
        for (int64_t d = reported + 1; d <= target; ++d) progress(d, total);
        lock.lock();
      }
      reported = target;
      if (finished && reported == clips_done) break;
    }
  }
  for (auto& t : threads) t.join();
  RETURN_IF_ERROR(first_error);
  return WriteMetadata(options, words, voices, noise_names);
}

}  // namespace chorus::data
