// Synthetic speech-commands dataset made with libespeak-ng, written in Google
// Speech Commands layout (see speech_commands.h) so LoadSpeechCommands reads it.
//
// Each "speaker" is one voice setting: an espeak-ng English voice (accent),
// a variant (male/female/other timbres), a base pitch, a pitch range and a
// speaking rate. Files are ROOT/<word>/<speakerid>_nohash_<k>.wav with
// speakerid a hex hash of the voice setting, so the hash split keeps voices
// apart. Every clip is 16-bit mono at sample_rate, exactly clip_seconds long,
// the word placed at a random offset. ROOT/_background_noise_/ gets generated
// noise files (white, pink, brown, hum). The same options and seed give the
// same files: libespeak-ng keeps state between calls, so each (word, voice) is
// spoken by a child process forked from a freshly initialised engine, which
// sends its samples back through a pipe; up to 8 run at once. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace chorus::data {

// The 10 speech-commands words, the digits zero..nine, and other words.
const std::vector<std::string>& CommandWords();
const std::vector<std::string>& DigitWords();
const std::vector<std::string>& OtherWords();

struct SynthOptions {
  std::string root;
  std::vector<std::string> words;  // empty: CommandWords + DigitWords + OtherWords
  int num_voices = 48;
  int takes_per_voice = 1;   // clips per (word, voice), each with its own jitter
  int sample_rate = 16000;
  double clip_seconds = 1.0;
  int noise_files = 4;
  double noise_seconds = 20.0;
  uint64_t seed = 1;
};

Status ValidateSynthOptions(const SynthOptions& options);

// progress(done, total) is called after each clip.
Status SynthesizeDataset(const SynthOptions& options,
                         const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace chorus::data
