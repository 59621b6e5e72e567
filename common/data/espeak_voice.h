// Synthetic speakers made with libespeak-ng: a Voice is one voice setting (an
// English accent, a variant timbre, a base pitch, a pitch range and a
// speaking rate), and SpeakWord turns a word into that voice's samples.
//
// Voice i depends only on the seed and i (not on how many voices are asked
// for), and the same word and voice always give the same samples:
// libespeak-ng keeps state from one utterance to the next, so each word is
// spoken by a child process forked from a freshly initialised engine, which
// sends its samples back through a pipe. Thread-safe (forks are serialised;
// several threads may speak at once).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace chorus::data {

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

std::vector<Voice> MakeVoices(int num_voices, uint64_t seed);

struct SpokenWord {
  std::vector<float> samples;  // [-1, 1]
  int sample_rate = 0;         // espeak-ng's own rate (22050 Hz)
};

// The word as espeak-ng says it, untrimmed. Errors name the word and voice.
Result<SpokenWord> SpeakWord(const Voice& voice, const std::string& word);

// Drops the leading and trailing quiet part (below 3% of the peak), keeping a
// 10 ms margin, and scales the peak to 1. Silent audio is an error naming `what`.
Status TrimAndNormalize(std::vector<float>& x, int sample_rate, const std::string& what);

}  // namespace chorus::data
