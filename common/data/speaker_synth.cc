#include "common/data/speaker_synth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iomanip>
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

constexpr int kSessions = 2;
constexpr int kMaxVoices = 10000;
constexpr int kMaxUtterances = 1000;

std::string Padded(int64_t v, int width) {
  std::ostringstream out;
  out << std::setw(width) << std::setfill('0') << v;
  return out.str();
}

std::vector<std::string> Words(const SpeakerSynthOptions& o) {
  if (!o.words.empty()) return o.words;
  std::vector<std::string> words = CommandWords();
  for (const auto* list : {&DigitWords(), &OtherWords()}) words.insert(words.end(), list->begin(), list->end());
  return words;
}

// Utterance u of voice v: one or two words, the rate jittered, at the session's level.
Status MakeUtterance(const SpeakerSynthOptions& o, const Voice& voice, int u, const std::vector<std::string>& words,
                     const std::string& dir) {
  Rng rng(MixSeed(MixSeed(o.seed, internal::HashString("speaker/" + voice.id)), static_cast<uint64_t>(u)));
  const int count = rng.Uniform() < 0.6 ? 1 : 2;
  Voice said = voice;
  said.rate = std::clamp(static_cast<int>(std::lround(voice.rate * rng.Uniform(0.88, 1.12))), 80, 450);
  std::vector<float> samples;
  for (int w = 0; w < count; ++w) {
    const std::string& word = words[rng.Below(words.size())];
    const std::string what = "speaker-synth: word '" + word + "', voice '" + said.Setting() + "'";
    ASSIGN_OR_RETURN(SpokenWord spoken, SpeakWord(said, word));
    RETURN_IF_ERROR(TrimAndNormalize(spoken.samples, spoken.sample_rate, what));
    Result<std::vector<float>> resampled = audio::Resample(spoken.samples, spoken.sample_rate, o.sample_rate);
    if (!resampled.ok()) return resampled.status().WithContext(what);
    if (w > 0) samples.resize(samples.size() + static_cast<size_t>(rng.Uniform(0.05, 0.15) * o.sample_rate), 0.0f);
    samples.insert(samples.end(), resampled->begin(), resampled->end());
  }
  const int session = u % kSessions;
  Rng level_rng(MixSeed(internal::HashString("level/" + voice.id), static_cast<uint64_t>(session)));
  const float level = static_cast<float>(std::pow(10.0, level_rng.Uniform(-20.0, -3.0) / 20.0) *
                                         std::pow(10.0, rng.Uniform(-2.0, 2.0) / 20.0));
  for (float& s : samples) s *= level;
  const std::string session_dir = JoinPath(dir, "s" + std::to_string(session + 1));
  RETURN_IF_ERROR(MakeDirs(session_dir));
  return audio::WriteAudio(JoinPath(session_dir, "u" + Padded(u, 3) + ".wav"), audio::Waveform{samples, o.sample_rate});
}

std::string SpeedName(double speed) {
  std::ostringstream out;
  out << "_nohash_sp" << std::setprecision(3) << speed;
  return out.str();
}

// FSDD recordings {digit}_{speaker}_{index}.wav of `speakers` into
// OUT/<part>/fsdd-<speaker>[-sp<speed>]/fsdd/, resampled (and sped up or
// slowed down when speed != 1).
Status CopyFsdd(const SpeakerSynthOptions& o, const std::vector<std::string>& speakers, bool held_out,
                const std::string& part, double speed = 1.0) {
  const std::string dir = FsddRecordingsDir(o.fsdd_root);
  ASSIGN_OR_RETURN(std::vector<std::string> files, internal::ListFiles(dir, {".wav"}));
  std::vector<int> found(speakers.size(), 0);
  for (const auto& name : files) {
    FsddName parsed;
    if (!ParseFsddName(name, &parsed)) continue;
    const std::string& speaker = parsed.speaker;
    const auto it = std::find(speakers.begin(), speakers.end(), speaker);
    if (it == speakers.end()) continue;
    if ((parsed.index < o.fsdd_holdout) != held_out) continue;
    audio::ReadOptions ro;
    ro.target_sample_rate = o.sample_rate;
    ASSIGN_OR_RETURN(audio::Waveform wave, audio::ReadAudio(JoinPath(dir, name), ro));
    if (speed != 1.0) {
      ASSIGN_OR_RETURN(wave.samples,
                       audio::Resample(wave.samples, static_cast<int>(std::lround(o.sample_rate * speed)), o.sample_rate));
    }
    const std::string who = "fsdd-" + speaker + (speed != 1.0 ? SpeedName(speed) : std::string());
    const std::string out = JoinPath(JoinPath(JoinPath(o.out, part), who), "fsdd");
    RETURN_IF_ERROR(MakeDirs(out));
    RETURN_IF_ERROR(audio::WriteAudio(JoinPath(out, name), wave));
    ++found[it - speakers.begin()];
  }
  for (size_t i = 0; i < speakers.size(); ++i)
    if (found[i] == 0) return NotFound(dir + ": no FSDD recordings of '" + speakers[i] + "' for " + part + "/");
  return Status::Ok();
}

}  // namespace

Status ValidateSpeakerSynthOptions(const SpeakerSynthOptions& o) {
  if (o.out.empty()) return InvalidArgument("speaker-synth: the output folder is empty");
  if (o.voices < 0 || o.voices > kMaxVoices)
    return InvalidArgument("speaker-synth: voices must be in [0, " + std::to_string(kMaxVoices) + "]");
  if (o.utterances < 2 || o.utterances > kMaxUtterances)
    return InvalidArgument("speaker-synth: utterances must be in [2, " + std::to_string(kMaxUtterances) + "]");
  if (o.voices + (o.fsdd_root.empty() ? 0 : static_cast<int>(o.fsdd_train_speakers.size())) < 2)
    return InvalidArgument("speaker-synth: at least 2 training speakers are needed (voices and FSDD speakers)");
  if (o.sample_rate < 8000 || o.sample_rate > 48000) return InvalidArgument("speaker-synth: sample_rate in [8000, 48000]");
  if (o.fsdd_holdout < 0 || o.fsdd_holdout > 50) return InvalidArgument("speaker-synth: fsdd_holdout in [0, 50]");
  for (const auto* list : {&o.fsdd_train_speakers, &o.fsdd_test_speakers})
    for (const auto& s : *list)
      if (s.empty() || s.find_first_of("/_.") != std::string::npos)
        return InvalidArgument("speaker-synth: FSDD speaker '" + s + "' is not a speaker name");
  for (double s : o.fsdd_speeds)
    if (!(s >= 0.5 && s <= 2.0) || s == 1.0)
      return InvalidArgument("speaker-synth: every FSDD speed must be in [0.5, 2] and not 1");
  for (const auto& s : o.fsdd_test_speakers)
    if (std::find(o.fsdd_train_speakers.begin(), o.fsdd_train_speakers.end(), s) != o.fsdd_train_speakers.end())
      return InvalidArgument("speaker-synth: FSDD speaker '" + s + "' cannot both train and be an unseen test speaker");
  return Status::Ok();
}

Status MakeSpeakerDataset(const SpeakerSynthOptions& o, const std::function<void(int64_t, int64_t)>& progress) {
  RETURN_IF_ERROR(ValidateSpeakerSynthOptions(o));
  const std::string train = JoinPath(o.out, "train");
  RETURN_IF_ERROR(MakeDirs(train));
  const std::vector<Voice> voices = MakeVoices(o.voices, o.seed);
  const std::vector<std::string> words = Words(o);
  const int64_t total = static_cast<int64_t>(o.voices) * o.utterances;
  std::vector<Status> errors(static_cast<size_t>(total));
  std::atomic<int64_t> next{0}, done{0};
  auto work = [&] {
    for (int64_t i = next++; i < total; i = next++) {
      const Voice& v = voices[static_cast<size_t>(i / o.utterances)];
      errors[i] = MakeUtterance(o, v, static_cast<int>(i % o.utterances), words, JoinPath(train, "v" + v.id));
      ++done;
    }
  };
  std::vector<std::thread> threads;
  const unsigned n = std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
  for (unsigned t = 0; t < n; ++t) threads.emplace_back(work);
  int64_t reported = 0;
  while (progress && reported < total) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const int64_t now = done;
    if (now > reported) progress(now, total);
    reported = now;
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) RETURN_IF_ERROR(e);

  if (!o.fsdd_root.empty()) {
    RETURN_IF_ERROR(CopyFsdd(o, o.fsdd_train_speakers, /*held_out=*/false, "train"));
    for (double speed : o.fsdd_speeds) RETURN_IF_ERROR(CopyFsdd(o, o.fsdd_train_speakers, false, "train", speed));
    std::vector<std::string> tested = o.fsdd_train_speakers;
    tested.insert(tested.end(), o.fsdd_test_speakers.begin(), o.fsdd_test_speakers.end());
    RETURN_IF_ERROR(CopyFsdd(o, tested, /*held_out=*/true, "test"));
  }
  const std::string noise_dir = JoinPath(train, "_background_noise_");
  RETURN_IF_ERROR(MakeDirs(noise_dir));
  for (int k = 0; k < kNumNoiseKinds; ++k) {
    const NoiseKind kind = static_cast<NoiseKind>(k);
    std::vector<float> noise = MakeNoiseOfKind(kind, 10.0, o.sample_rate, MixSeed(o.seed, static_cast<uint64_t>(k)));
    RETURN_IF_ERROR(audio::WriteAudio(JoinPath(noise_dir, std::string(NoiseKindName(kind)) + ".wav"),
                                      audio::Waveform{noise, o.sample_rate}));
  }
  std::ostringstream readme;
  readme << "Speaker-recognition material made by Chorus (chorus dataset speaker-synth), seed " << o.seed << ".\n"
         << "train/: " << o.voices << " espeak-ng voices as speakers, " << o.utterances
         << " utterances each (one or two words, " << o.sample_rate << " Hz)";
  if (!o.fsdd_root.empty()) {
    readme << ", and FSDD speakers";
    for (const auto& s : o.fsdd_train_speakers) readme << " " << s;
    readme << " (recordings with index >= " << o.fsdd_holdout << ")";
    for (double speed : o.fsdd_speeds) readme << ", and at speed " << speed << " as new speakers";
    readme << ".\ntest/: FSDD recordings with index < "
           << o.fsdd_holdout << " of those speakers and of the unseen";
    for (const auto& s : o.fsdd_test_speakers) readme << " " << s;
  }
  readme << ".\ntrain/_background_noise_/: generated noise for augmentation.\n";
  return AtomicWriteFile(JoinPath(o.out, "README.txt"), readme.str());
}

}  // namespace chorus::data
