#include "common/data/vad_synth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/audio/resample.h"
#include "common/audio/wav_io.h"
#include "common/data/data_internal.h"
#include "common/data/espeak_voice.h"
#include "common/data/fsdd_names.h"
#include "common/data/noise.h"
#include "common/data/synth.h"
#include "common/util/fs.h"

namespace chorus::data {
namespace {

using internal::JoinPath;
using internal::MixSeed;
using internal::Rng;

constexpr double kFrameSeconds = 0.010;
constexpr double kSpeechFloorDb = -26.0;  // below a word's loudest frame: not speech
constexpr int kMaxGapFrames = 3;          // gaps this short inside speech are closed
constexpr int kPoolWordsPerVoice = 12;
constexpr int kMaxRecordings = 1000000;

struct Clip {
  std::vector<float> samples;  // at the target rate, peak 1
};

const std::vector<NoiseKind>& AllNoiseKinds() {
  static const std::vector<NoiseKind> kinds = {NoiseKind::kWhite, NoiseKind::kPink,  NoiseKind::kBrown,
                                               NoiseKind::kHum,   NoiseKind::kTones, NoiseKind::kClicks};
  return kinds;
}

Result<std::vector<NoiseKind>> ChosenNoises(const VadSynthOptions& o) {
  if (o.noises.empty()) return AllNoiseKinds();
  std::vector<NoiseKind> out;
  for (const auto& name : o.noises) {
    bool found = false;
    for (NoiseKind k : AllNoiseKinds())
      if (name == NoiseKindName(k)) out.push_back(k), found = true;
    if (!found) {
      return InvalidArgument("vad-synth: unknown noise '" + name + "' (known: white, pink, brown, hum, tones, clicks)");
    }
  }
  return out;
}

std::vector<std::string> PoolWords(const VadSynthOptions& o) {
  if (!o.words.empty()) return o.words;
  std::vector<std::string> words = CommandWords();
  for (const auto* list : {&DigitWords(), &OtherWords()}) words.insert(words.end(), list->begin(), list->end());
  return words;
}

// Each voice speaks kPoolWordsPerVoice of the words (a different subset per
// voice), on up to 8 threads; clips are trimmed, normalised and resampled.
Result<std::vector<Clip>> SpeakPool(const VadSynthOptions& o) {
  const std::vector<Voice> voices = MakeVoices(o.voices, o.seed);
  const std::vector<std::string> words = PoolWords(o);
  struct Job {
    const Voice* voice;
    std::string word;
  };
  std::vector<Job> jobs;
  for (size_t v = 0; v < voices.size(); ++v) {
    Rng rng(MixSeed(o.seed, internal::HashString("pool/" + voices[v].id)));
    std::vector<std::string> shuffled = words;
    rng.Shuffle(shuffled);
    for (size_t w = 0; w < shuffled.size() && w < static_cast<size_t>(kPoolWordsPerVoice); ++w)
      jobs.push_back({&voices[v], shuffled[w]});
  }
  std::vector<Clip> pool(jobs.size());
  std::vector<Status> errors(jobs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      const std::string what = "vad-synth: word '" + jobs[i].word + "', voice '" + jobs[i].voice->Setting() + "'";
      Result<SpokenWord> spoken = SpeakWord(*jobs[i].voice, jobs[i].word);
      if (!spoken.ok()) {
        errors[i] = spoken.status();
        continue;
      }
      if (Status s = TrimAndNormalize(spoken->samples, spoken->sample_rate, what); !s.ok()) {
        errors[i] = s;
        continue;
      }
      Result<std::vector<float>> resampled = audio::Resample(spoken->samples, spoken->sample_rate, o.sample_rate);
      if (!resampled.ok()) errors[i] = resampled.status().WithContext(what);
      else pool[i].samples = std::move(*resampled);
    }
  };
  std::vector<std::thread> threads;
  const size_t n = std::min<size_t>(8, std::max(1u, std::thread::hardware_concurrency()));
  for (size_t t = 0; t < n; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  for (const auto& e : errors) RETURN_IF_ERROR(e);
  return pool;
}

Result<std::vector<Clip>> LoadFsddPool(const VadSynthOptions& o) {
  std::vector<Clip> pool;
  if (o.fsdd_root.empty()) return pool;
  const std::string dir = FsddRecordingsDir(o.fsdd_root);
  ASSIGN_OR_RETURN(std::vector<std::string> files, internal::ListFiles(dir, {".wav"}));
  for (const auto& name : files) {
    FsddName parsed;
    if (!ParseFsddName(name, &parsed)) continue;
    if (std::find(o.fsdd_speakers.begin(), o.fsdd_speakers.end(), parsed.speaker) == o.fsdd_speakers.end()) continue;
    audio::ReadOptions ro;
    ro.target_sample_rate = o.sample_rate;
    ASSIGN_OR_RETURN(audio::Waveform wave, audio::ReadAudio(JoinPath(dir, name), ro));
    float peak = 0;
    for (float s : wave.samples) peak = std::max(peak, std::fabs(s));
    if (peak < 1e-4f) continue;
    for (float& s : wave.samples) s /= peak;
    pool.push_back({std::move(wave.samples)});
  }
  if (pool.empty()) {
    std::string who;
    for (const auto& s : o.fsdd_speakers) who += (who.empty() ? "" : ", ") + s;
    return NotFound(dir + ": no FSDD clips of " + who);
  }
  return pool;
}

// Marks the frames of `clip` (placed at sample `at`, scaled by `gain`) that
// carry speech: RMS within kSpeechFloorDb of the clip's loudest frame.
void LabelWord(const std::vector<float>& clip, size_t at, int sample_rate, std::vector<bool>& speech) {
  const size_t hop = static_cast<size_t>(std::llround(kFrameSeconds * sample_rate));
  const size_t first = at / hop, last = (at + clip.size() + hop - 1) / hop;
  std::vector<double> rms(last - first, 0.0);
  for (size_t f = first; f < last; ++f) {
    double energy = 0;  // over the part of the frame the word covers, divided by the whole frame
    for (size_t s = std::max(f * hop, at); s < std::min((f + 1) * hop, at + clip.size()); ++s)
      energy += static_cast<double>(clip[s - at]) * clip[s - at];
    rms[f - first] = std::sqrt(energy / static_cast<double>(hop));
  }
  const double loudest = *std::max_element(rms.begin(), rms.end());
  const double floor = loudest * std::pow(10.0, kSpeechFloorDb / 20.0);
  for (size_t f = first; f < last && f < speech.size(); ++f)
    if (loudest > 0 && rms[f - first] >= floor) speech[f] = true;
}

void CloseGaps(std::vector<bool>& speech) {
  size_t i = 0;
  while (i < speech.size()) {
    if (speech[i]) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < speech.size() && !speech[j]) ++j;
    if (i > 0 && j < speech.size() && j - i <= static_cast<size_t>(kMaxGapFrames))
      std::fill(speech.begin() + static_cast<std::ptrdiff_t>(i), speech.begin() + static_cast<std::ptrdiff_t>(j), true);
    i = j;
  }
}

struct Recording {
  std::vector<float> samples;
  std::vector<bool> speech;  // per 10 ms frame
  std::string noise;
  double snr_db = 0;
};

Recording MakeRecording(const VadSynthOptions& o, int index, const std::vector<Clip>& espeak,
                        const std::vector<Clip>& fsdd, const std::vector<NoiseKind>& noises) {
  Rng rng(MixSeed(MixSeed(o.seed, 0x766164ULL), static_cast<uint64_t>(index)));  // "vad"
  const int rate = o.sample_rate;
  const size_t n = static_cast<size_t>(std::llround(rng.Uniform(o.min_seconds, o.max_seconds) * rate));
  const size_t hop = static_cast<size_t>(std::llround(kFrameSeconds * rate));
  Recording rec;
  std::vector<float> clean(n, 0.0f);
  rec.speech.assign(n / hop, false);
  const bool silent = rng.Uniform() < o.no_speech_fraction || (espeak.empty() && fsdd.empty());
  size_t at = static_cast<size_t>(rng.Uniform(0.1, 1.5) * rate);
  while (!silent) {
    const int words = static_cast<int>(rng.Int(1, 4));
    bool placed = false;
    for (int w = 0; w < words; ++w) {
      const bool from_fsdd = !fsdd.empty() && (espeak.empty() || rng.Uniform() < o.fsdd_fraction);
      const Clip& clip = from_fsdd ? fsdd[rng.Below(fsdd.size())] : espeak[rng.Below(espeak.size())];
      const double speed = rng.Uniform(0.92, 1.08);
      auto sped = audio::Resample(clip.samples, static_cast<int>(std::lround(rate * speed)), rate);
      const std::vector<float>& word = sped.ok() ? *sped : clip.samples;
      const float gain = static_cast<float>(rng.Uniform(0.3, 1.0));
      if (at + word.size() >= n) break;
      for (size_t i = 0; i < word.size(); ++i) clean[at + i] += gain * word[i];
      LabelWord(word, at, rate, rec.speech);
      placed = true;
      at += word.size() + static_cast<size_t>(rng.Uniform(0.04, 0.25) * rate);
    }
    if (!placed) break;
    at += static_cast<size_t>(rng.Uniform(0.3, 2.0) * rate);
    if (at >= n) break;
  }
  CloseGaps(rec.speech);

  const NoiseKind kind = noises[rng.Below(noises.size())];
  rec.noise = NoiseKindName(kind);
  std::vector<float> noise = MakeNoiseOfKind(kind, static_cast<double>(n) / rate, rate, rng.Next());
  noise.resize(n, 0.0f);
  rec.snr_db = o.snrs_db.empty() ? rng.Uniform(o.snr_min_db, o.snr_max_db)
                                 : o.snrs_db[static_cast<size_t>(index) % o.snrs_db.size()];
  // Speech power over the speech frames; the noise is scaled to the SNR.
  double speech_energy = 0, noise_energy = 0;
  size_t speech_samples = 0;
  for (size_t f = 0; f < rec.speech.size(); ++f) {
    if (!rec.speech[f]) continue;
    for (size_t s = f * hop; s < (f + 1) * hop; ++s) speech_energy += static_cast<double>(clean[s]) * clean[s];
    speech_samples += hop;
  }
  for (float v : noise) noise_energy += static_cast<double>(v) * v;
  const double noise_power = noise_energy / std::max<size_t>(1, n);
  double noise_gain = 1.0;
  if (speech_samples > 0 && noise_power > 0) {
    const double speech_power = speech_energy / static_cast<double>(speech_samples);
    noise_gain = std::sqrt(speech_power / noise_power / std::pow(10.0, rec.snr_db / 10.0));
  } else {
    noise_gain = rng.Uniform(0.05, 1.0);  // noise alone, at some level
  }
  rec.samples.resize(n);
  float peak = 0;
  for (size_t i = 0; i < n; ++i) {
    rec.samples[i] = clean[i] + static_cast<float>(noise_gain) * noise[i];
    peak = std::max(peak, std::fabs(rec.samples[i]));
  }
  // Overall level: peak between -30 and -1 dBFS.
  const float level = static_cast<float>(std::pow(10.0, rng.Uniform(-30.0, -1.0) / 20.0));
  for (float& s : rec.samples) s = peak > 0 ? s / peak * level : 0.0f;
  return rec;
}

std::string Seconds(double s) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(3) << s;
  return out.str();
}

}  // namespace

std::vector<std::pair<double, double>> FramesToSegments(const std::vector<bool>& speech, double frame_seconds) {
  std::vector<std::pair<double, double>> segments;
  size_t i = 0;
  while (i < speech.size()) {
    if (!speech[i]) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < speech.size() && speech[j]) ++j;
    segments.emplace_back(static_cast<double>(i) * frame_seconds, static_cast<double>(j) * frame_seconds);
    i = j;
  }
  return segments;
}

Status ValidateVadSynthOptions(const VadSynthOptions& o) {
  if (o.out.empty()) return InvalidArgument("vad-synth: the output folder is empty");
  if (o.recordings < 1 || o.recordings > kMaxRecordings)
    return InvalidArgument("vad-synth: recordings must be in [1, " + std::to_string(kMaxRecordings) + "]");
  if (!(o.min_seconds >= 0.5) || !(o.max_seconds >= o.min_seconds) || o.max_seconds > 600)
    return InvalidArgument("vad-synth: need 0.5 <= min_seconds <= max_seconds <= 600");
  if (o.voices < 0 || o.voices > 10000) return InvalidArgument("vad-synth: voices must be in [0, 10000]");
  if (o.voices == 0 && o.fsdd_root.empty()) return InvalidArgument("vad-synth: no speech: voices is 0 and no FSDD");
  if (!(o.fsdd_fraction >= 0 && o.fsdd_fraction <= 1)) return InvalidArgument("vad-synth: fsdd_fraction in [0, 1]");
  if (!(o.snr_min_db >= -30 && o.snr_max_db <= 100 && o.snr_min_db <= o.snr_max_db))
    return InvalidArgument("vad-synth: need -30 <= snr_min_db <= snr_max_db <= 100");
  for (double s : o.snrs_db)
    if (!(s >= -30 && s <= 100)) return InvalidArgument("vad-synth: every SNR must be in [-30, 100] dB");
  if (!(o.no_speech_fraction >= 0 && o.no_speech_fraction <= 1))
    return InvalidArgument("vad-synth: no_speech_fraction in [0, 1]");
  if (o.sample_rate < 8000 || o.sample_rate > 48000) return InvalidArgument("vad-synth: sample_rate in [8000, 48000]");
  for (const auto& s : o.fsdd_speakers)
    if (s.empty() || s.find_first_of("/_") != std::string::npos)
      return InvalidArgument("vad-synth: FSDD speaker '" + s + "' is not a speaker name");
  return ChosenNoises(o).status();
}

Status MakeVadDataset(const VadSynthOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  RETURN_IF_ERROR(ValidateVadSynthOptions(o));
  ASSIGN_OR_RETURN(std::vector<NoiseKind> noises, ChosenNoises(o));
  std::vector<Clip> espeak;
  if (o.voices > 0) {
    ASSIGN_OR_RETURN(espeak, SpeakPool(o));
  }
  ASSIGN_OR_RETURN(std::vector<Clip> fsdd, LoadFsddPool(o));
  const std::string dir = JoinPath(o.out, "recordings");
  RETURN_IF_ERROR(MakeDirs(dir));

  std::vector<std::string> segment_rows(static_cast<size_t>(o.recordings)), condition_rows(segment_rows.size());
  std::vector<Status> errors(segment_rows.size());
  std::atomic<int> next{0};
  std::atomic<int64_t> done{0};
  auto work = [&] {
    for (int i = next++; i < o.recordings; i = next++) {
      Recording rec = MakeRecording(o, i, espeak, fsdd, noises);
      std::ostringstream name;
      name << "rec_" << std::setw(5) << std::setfill('0') << i << ".wav";
      errors[i] = audio::WriteAudio(JoinPath(dir, name.str()), audio::Waveform{rec.samples, o.sample_rate});
      std::string rows;
      double speech_seconds = 0;
      for (const auto& [start, end] : FramesToSegments(rec.speech, kFrameSeconds)) {
        rows += "recordings/" + name.str() + "," + Seconds(start) + "," + Seconds(end) + "\n";
        speech_seconds += end - start;
      }
      segment_rows[i] = rows;
      condition_rows[i] = "recordings/" + name.str() + "," + rec.noise + "," + Seconds(rec.snr_db) + "," +
                          Seconds(speech_seconds) + "\n";
      ++done;
    }
  };
  std::vector<std::thread> threads;
  const int n = static_cast<int>(std::min<unsigned>(8, std::max(1u, std::thread::hardware_concurrency())));
  for (int t = 0; t < n; ++t) threads.emplace_back(work);
  int64_t reported = 0;
  while (reported < o.recordings && progress) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const int64_t now = done;
    for (int64_t d = reported + 1; d <= now; ++d) progress(d, o.recordings);
    reported = now;
  }
  for (auto& t : threads) t.join();
  for (int64_t d = reported + 1; progress && d <= o.recordings; ++d) progress(d, o.recordings);
  for (const auto& e : errors) RETURN_IF_ERROR(e);

  std::string segments = "file,start,end\n", conditions = "file,noise,snr_db,speech_seconds\n";
  for (size_t i = 0; i < segment_rows.size(); ++i) {
    segments += segment_rows[i];
    conditions += condition_rows[i];
  }
  RETURN_IF_ERROR(AtomicWriteFile(JoinPath(o.out, "segments.csv"), segments));
  RETURN_IF_ERROR(AtomicWriteFile(JoinPath(o.out, "conditions.csv"), conditions));
  std::ostringstream readme;
  readme << "Voice-activity recordings made by Chorus (chorus dataset vad-synth), seed " << o.seed << ".\n"
         << o.recordings << " recordings of " << o.min_seconds << " to " << o.max_seconds << " s at " << o.sample_rate
         << " Hz: words of " << o.voices << " espeak-ng voices"
         << (o.fsdd_root.empty() ? std::string() : " and FSDD speakers") << " with pauses, over generated noise.\n"
         << "segments.csv: speech segments (file,start,end in seconds), from the clean speech's energy on a 10 ms "
            "grid.\nconditions.csv: each recording's noise kind, SNR and seconds of speech.\n";
  return AtomicWriteFile(JoinPath(o.out, "README.txt"), readme.str());
}

}  // namespace chorus::data
