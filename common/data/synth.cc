#include "common/data/synth.h"

#include <espeak-ng/speak_lib.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

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

// espeak-ng English voices (accents) in espeak-ng-data/lang/gmw.
const std::vector<std::string>& Languages() {
  static const std::vector<std::string> kLanguages = {
      "en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"};
  return kLanguages;
}

// espeak-ng voice variants (espeak-ng-data/voices/!v) that still sound like a
// plain speaker: male, female and klatt timbres. Whisper, robots and the
// deliberately distorted ones are left out.
const std::vector<std::string>& Variants() {
  static const std::vector<std::string> kVariants = {
      "m1",     "m2",     "m3",     "m4",    "m5",      "m6",     "m7",     "m8",      "f1",
      "f2",     "f3",     "f4",     "f5",    "klatt",   "klatt2", "klatt3", "klatt4",  "croak",
      "Alicia", "Andrea", "Annie",  "aunty", "belinda", "linda",  "steph",  "grandma", "adam",
      "david",  "paul",   "robert", "max",   "edward",  "Andy",   "grandpa"};
  return kVariants;
}

struct Voice {
  std::string language;
  std::string variant;
  int pitch = 50;  // espeakPITCH, 0..100
  int range = 50;  // espeakRANGE, 0..100
  int rate = 175;  // espeakRATE, words per minute
  std::string id;  // 8 hex characters of SHA-1(Setting())

  std::string Name() const { return language + "+" + variant; }
  std::string Setting() const {
    return Name() + " pitch=" + std::to_string(pitch) + " range=" + std::to_string(range) +
           " rate=" + std::to_string(rate);
  }
};

// Voice i depends only on the seed and i (not on how many voices are asked for).
std::vector<Voice> MakeVoices(int num_voices, uint64_t seed) {
  Rng rng(internal::MixSeed(seed, 0x766f69636573ULL));  // "voices"
  std::vector<std::string> languages = Languages();
  std::vector<std::string> variants = Variants();
  rng.Shuffle(languages);
  rng.Shuffle(variants);
  std::vector<Voice> voices;
  std::set<std::string> settings, ids;
  for (int i = 0; i < num_voices; ++i) {
    Voice v;
    v.language = languages[static_cast<size_t>(i) % languages.size()];
    v.variant = variants[static_cast<size_t>(i) % variants.size()];
    do {
      v.pitch = static_cast<int>(rng.Int(25, 80));
      v.range = static_cast<int>(rng.Int(30, 90));
      v.rate = static_cast<int>(rng.Int(130, 220));
      v.id = internal::Sha1Hex(v.Setting()).substr(0, 8);
    } while (settings.count(v.Setting()) || ids.count(v.id));
    settings.insert(v.Setting());
    ids.insert(v.id);
    voices.push_back(std::move(v));
  }
  return voices;
}

// ---- libespeak-ng ----
//
// libespeak-ng is a process-wide singleton whose synthesizer keeps state from
// one utterance to the next (the pitch-flutter phase, the automatic gain, the
// roughness cycle counter, rand() for breath and Klatt noise), so the same word
// and voice do not give the same samples twice in one process. To make every
// clip a pure function of (word, voice), this process initialises espeak-ng
// once and never synthesizes itself: each word is synthesized in a forked
// child, which starts from that pristine state, seeds rand(), sends the int16
// samples back through a pipe and exits. A fork costs a few milliseconds.

struct Espeak {
  std::once_flag once;
  std::mutex fork_mu;
  int sample_rate = 0;  // 0: initialisation failed
};

Espeak& GetEspeak() {
  static Espeak* e = new Espeak();  // never destroyed: espeak may outlive static teardown
  return *e;
}

// Only ever called in a forked child.
std::vector<short>* g_child_pcm = nullptr;

int SynthCallback(short* wav, int num_samples, espeak_EVENT* /*events*/) {
  if (wav != nullptr && num_samples > 0 && g_child_pcm != nullptr) {
    g_child_pcm->insert(g_child_pcm->end(), wav, wav + num_samples);
  }
  return 0;  // continue
}

// What the child reports before the samples.
struct ChildHeader {
  int32_t step = 0;   // 0: OK; otherwise the failing call (see kStepNames)
  int32_t error = 0;  // espeak_ERROR of the failing call
  int64_t num_samples = 0;
};
const char* const kStepNames[] = {"", "espeak_SetVoiceByName", "espeak_SetParameter", "espeak_Synth",
                                  "espeak_Synchronize"};

bool WriteAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t k = ::write(fd, p, len);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    p += k;
    len -= static_cast<size_t>(k);
  }
  return true;
}

// The child's whole life: synthesize, report, _exit. Never returns.
[[noreturn]] void RunChild(int fd, const char* voice_name, const std::pair<espeak_PARAMETER, int>* params,
                           int num_params, const char* text, size_t text_size) {
  ChildHeader header;
  std::vector<short> pcm;
  g_child_pcm = &pcm;
  std::srand(1);  // breath and Klatt noise use rand()
  espeak_ERROR err = espeak_SetVoiceByName(voice_name);
  if (err != EE_OK) {
    header.step = 1;
  } else {
    for (int i = 0; i < num_params && header.step == 0; ++i) {
      err = espeak_SetParameter(params[i].first, params[i].second, 0);
      if (err != EE_OK) header.step = 2;
    }
  }
  if (header.step == 0) {
    err = espeak_Synth(text, text_size, 0, POS_CHARACTER, 0, espeakCHARS_AUTO, nullptr, nullptr);
    if (err != EE_OK) header.step = 3;
  }
  if (header.step == 0) {
    err = espeak_Synchronize();
    if (err != EE_OK) header.step = 4;
  }
  header.error = err;
  header.num_samples = header.step == 0 ? static_cast<int64_t>(pcm.size()) : 0;
  bool ok = WriteAll(fd, &header, sizeof(header));
  if (ok && header.num_samples > 0) ok = WriteAll(fd, pcm.data(), pcm.size() * sizeof(short));
  ::_exit(ok ? 0 : 3);
}

struct SynthResult {
  std::vector<float> samples;
  int sample_rate = 0;
};

Result<SynthResult> SynthesizeWord(const Voice& voice, const std::string& word) {
  Espeak& e = GetEspeak();
  std::call_once(e.once, [&e] {
    int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT);
    if (rate > 0) {
      espeak_SetSynthCallback(&SynthCallback);
      // Loads the English dictionary once, so that children do not each read it.
      if (espeak_SetVoiceByName("en") == EE_OK) e.sample_rate = rate;
    }
  });
  const std::string what = "espeak-ng: word '" + word + "', voice '" + voice.Setting() + "'";
  if (e.sample_rate <= 0) {
    return Internal(what + ": espeak_Initialize failed (is espeak-ng-data installed?)");
  }
  // Every parameter that shapes the audio is set on every call. (espeakPUNCTUATION
  // and espeakCAPITALS report an error in espeak-ng 1.51 even when they work;
  // their defaults are what we want, so they are left alone.)
  const std::pair<espeak_PARAMETER, int> params[] = {{espeakRATE, voice.rate},
                                                     {espeakPITCH, voice.pitch},
                                                     {espeakRANGE, voice.range},
                                                     {espeakVOLUME, 100},
                                                     {espeakWORDGAP, 0}};
  const std::string name = voice.Name();

  // pipe + fork + closing our copy of the write end happen under one lock, so
  // no child forked by another thread inherits this pipe's write end (which
  // would delay our end-of-file until that child exits).
  int fds[2];
  pid_t pid;
  {
    std::lock_guard<std::mutex> lock(e.fork_mu);
    if (::pipe2(fds, O_CLOEXEC) != 0) return Internal(what + ": pipe failed: " + std::strerror(errno));
    pid = ::fork();
    if (pid < 0) {
      const int saved = errno;
      ::close(fds[0]);
      ::close(fds[1]);
      return ResourceExhausted(what + ": fork failed: " + std::strerror(saved));
    }
    if (pid == 0) {
      ::close(fds[0]);
      RunChild(fds[1], name.c_str(), params, static_cast<int>(std::size(params)), word.c_str(), word.size() + 1);
    }
    ::close(fds[1]);
  }
  std::string bytes;
  char buf[1 << 16];
  for (;;) {
    ssize_t k = ::read(fds[0], buf, sizeof(buf));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    bytes.append(buf, static_cast<size_t>(k));
  }
  ::close(fds[0]);
  int wstatus = 0;
  pid_t waited;
  do {
    waited = ::waitpid(pid, &wstatus, 0);
  } while (waited < 0 && errno == EINTR);
  if (waited == pid && !(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)) {
    return Internal(what + ": synthesis process failed (" +
                    (WIFSIGNALED(wstatus) ? "signal " + std::to_string(WTERMSIG(wstatus))
                                          : "exit " + std::to_string(WEXITSTATUS(wstatus))) +
                    ")");
  }
  ChildHeader header;
  if (bytes.size() < sizeof(header)) return Internal(what + ": synthesis process sent no result");
  std::memcpy(&header, bytes.data(), sizeof(header));
  if (header.step != 0) {
    const int step = header.step >= 1 && header.step <= 4 ? header.step : 0;
    return Internal(what + ": " + (step ? kStepNames[step] : "espeak call") + " failed with code " +
                    std::to_string(header.error));
  }
  if (header.num_samples <= 0) return Internal(what + ": espeak_Synth produced no audio");
  if (bytes.size() != sizeof(header) + static_cast<size_t>(header.num_samples) * sizeof(short)) {
    return Internal(what + ": synthesis process sent a truncated result");
  }
  SynthResult out;
  out.sample_rate = e.sample_rate;
  out.samples.resize(static_cast<size_t>(header.num_samples));
  const char* p = bytes.data() + sizeof(header);
  for (size_t i = 0; i < out.samples.size(); ++i) {
    short v;
    std::memcpy(&v, p + i * sizeof(short), sizeof(short));
    out.samples[i] = static_cast<float>(v) / 32768.0f;
  }
  return out;
}

// Drops the leading and trailing quiet part (below 3% of the peak), keeping a
// 10 ms margin, and scales the peak to 1.
Status TrimAndNormalize(std::vector<float>& x, int sample_rate, const std::string& what) {
  float peak = 0.0f;
  for (float s : x) peak = std::max(peak, std::fabs(s));
  if (peak < 1e-4f) return Internal(what + ": synthesized audio is silent");
  const float threshold = 0.03f * peak;
  size_t first = 0, last = x.size();
  while (first < x.size() && std::fabs(x[first]) < threshold) ++first;
  while (last > first && std::fabs(x[last - 1]) < threshold) --last;
  const size_t margin = static_cast<size_t>(sample_rate / 100);
  first = first > margin ? first - margin : 0;
  last = std::min(x.size(), last + margin);
  std::vector<float> y(x.begin() + static_cast<std::ptrdiff_t>(first), x.begin() + static_cast<std::ptrdiff_t>(last));
  for (float& s : y) s /= peak;
  x = std::move(y);
  return Status::Ok();
}

// ---- Background noise ----

void NormalizeRms(std::vector<float>& x, double target_rms) {
  if (x.empty()) return;
  double mean = 0.0;
  for (float s : x) mean += s;
  mean /= static_cast<double>(x.size());
  double energy = 0.0;
  for (float& s : x) {
    s = static_cast<float>(s - mean);
    energy += static_cast<double>(s) * s;
  }
  double rms = std::sqrt(energy / static_cast<double>(x.size()));
  double scale = rms > 0.0 ? target_rms / rms : 0.0;
  for (float& s : x) s = static_cast<float>(std::clamp(s * scale, -0.99, 0.99));
}

struct NoiseFile {
  std::string name;
  std::vector<float> samples;
};

NoiseFile MakeNoise(int index, double seconds, int sample_rate, uint64_t seed) {
  const int kind = index % 4;
  const int cycle = index / 4;
  const std::string suffix = cycle == 0 ? "" : "_" + std::to_string(cycle + 1);
  Rng rng(internal::MixSeed(internal::MixSeed(seed, 0x6e6f697365ULL), static_cast<uint64_t>(index)));  // "noise"
  const size_t n = static_cast<size_t>(std::llround(seconds * sample_rate));
  NoiseFile out;
  out.samples.resize(n);
  switch (kind) {
    case 0: {  // white
      out.name = "white_noise" + suffix + ".wav";
      for (auto& s : out.samples) s = static_cast<float>(rng.Gaussian());
      break;
    }
    case 1: {  // pink: Paul Kellet's refined -3 dB/octave filter on white noise
      out.name = "pink_noise" + suffix + ".wav";
      double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
      for (auto& s : out.samples) {
        double w = rng.Gaussian();
        b0 = 0.99886 * b0 + w * 0.0555179;
        b1 = 0.99332 * b1 + w * 0.0750759;
        b2 = 0.96900 * b2 + w * 0.1538520;
        b3 = 0.86650 * b3 + w * 0.3104856;
        b4 = 0.55000 * b4 + w * 0.5329522;
        b5 = -0.7616 * b5 - w * 0.0168980;
        s = static_cast<float>(b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362);
        b6 = w * 0.115926;
      }
      break;
    }
    case 2: {  // brown: leaky integral of white noise, then a gentle DC blocker
      out.name = "brown_noise" + suffix + ".wav";
      double b = 0.0, prev_in = 0.0, prev_out = 0.0;
      const double leak = 1.0 - 2.0 * M_PI * 5.0 / sample_rate;  // integrator corner ~5 Hz
      const double hp = 1.0 - 2.0 * M_PI * 2.0 / sample_rate;    // DC blocker ~2 Hz
      for (auto& s : out.samples) {
        b = leak * b + rng.Gaussian();
        double y = b - prev_in + hp * prev_out;
        prev_in = b;
        prev_out = y;
        s = static_cast<float>(y);
      }
      break;
    }
    default: {  // mains hum with harmonics, a slow wobble and a little hiss
      const int f0 = cycle % 2 == 0 ? 50 : 60;
      out.name = "hum_" + std::to_string(f0) + "hz" + suffix + ".wav";
      const double amps[] = {1.0, 0.55, 0.35, 0.22, 0.12, 0.08, 0.05};
      double phases[7];
      for (double& p : phases) p = rng.Uniform(0.0, 2.0 * M_PI);
      const double wobble_hz = rng.Uniform(0.1, 0.5);
      const double hiss = 0.05;
      for (size_t i = 0; i < n; ++i) {
        const double t = static_cast<double>(i) / sample_rate;
        double v = 0.0;
        for (int h = 0; h < 7; ++h) {
          const double f = f0 * (h + 1);
          if (f >= sample_rate / 2.0) break;
          v += amps[h] * std::sin(2.0 * M_PI * f * t + phases[h]);
        }
        v *= 1.0 + 0.1 * std::sin(2.0 * M_PI * wobble_hz * t);
        out.samples[i] = static_cast<float>(v + hiss * rng.Gaussian());
      }
      break;
    }
  }
  NormalizeRms(out.samples, rng.Uniform(0.06, 0.12));
  return out;
}

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
  ASSIGN_OR_RETURN(SynthResult raw, SynthesizeWord(voice, word));
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
