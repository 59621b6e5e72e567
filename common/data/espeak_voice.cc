#include "common/data/espeak_voice.h"

#include <espeak-ng/speak_lib.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <mutex>
#include <set>

#include "common/data/data_internal.h"

namespace chorus::data {
namespace {

using internal::Rng;

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

}  // namespace

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

Result<SpokenWord> SpeakWord(const Voice& voice, const std::string& word) {
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
  SpokenWord out;
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

}  // namespace chorus::data
