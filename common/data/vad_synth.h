// Voice-activity material with known speech regions: recordings of speech
// with random pauses over generated noise, and where the speech is.
//
// Speech comes from espeak-ng voices (espeak_voice.h) and, when fsdd_root is
// set, from the Free Spoken Digit Dataset clips of the listed speakers
// (resampled). Words are grouped into utterances (short gaps inside, longer
// pauses between), each word with its own speed and gain. The clean speech
// track decides the labels: on a 10 ms grid, a frame is speech when its RMS
// is within 26 dB of the loudest frame of the word it belongs to, and gaps of
// up to 30 ms inside speech are closed. Noise of one generated kind (white,
// pink, brown, mains hum, tones, clicks) is added at an SNR measured over the
// speech frames, drawn from [snr_min_db, snr_max_db] or from snrs_db; a few
// recordings have no speech at all. The whole recording then gets a random
// level.
//
// Written as OUT/recordings/rec_NNNNN.wav (16-bit), OUT/segments.csv
// (file,start,end in seconds: the layout the `segments` dataset reader
// takes), OUT/conditions.csv (file,noise,snr_db,speech_seconds) and
// OUT/README.txt. Every recording depends only on (seed, its index), so the
// same options give the same files. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace chorus::data {

struct VadSynthOptions {
  std::string out;
  int recordings = 400;
  double min_seconds = 4.0;
  double max_seconds = 10.0;
  int voices = 60;                       // espeak-ng voices; 0: FSDD only
  std::vector<std::string> words;        // empty: commands, digits and other words
  std::string fsdd_root;                 // "": no FSDD clips
  std::vector<std::string> fsdd_speakers = {"george", "jackson", "nicolas"};
  double fsdd_fraction = 0.3;            // share of words taken from FSDD (1 with voices = 0)
  double snr_min_db = -5.0;
  double snr_max_db = 30.0;
  std::vector<double> snrs_db;           // non-empty: recording i gets snrs_db[i % size]
  std::vector<std::string> noises;       // non-empty: only these kinds (white, pink, brown, hum, tones, clicks)
  double no_speech_fraction = 0.05;      // recordings of noise alone
  int sample_rate = 16000;
  uint64_t seed = 1;
};

Status ValidateVadSynthOptions(const VadSynthOptions& options);

// progress(done, total) after each recording, from the calling thread.
Status MakeVadDataset(const VadSynthOptions& options,
                      const std::function<void(int64_t, int64_t)>& progress = nullptr);

// Speech segments [start, end) in seconds from per-frame speech flags on a
// grid of `frame_seconds` (runs of true frames).
std::vector<std::pair<double, double>> FramesToSegments(const std::vector<bool>& speech, double frame_seconds);

}  // namespace chorus::data
