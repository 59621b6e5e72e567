// Speaker-recognition material: espeak-ng voices as speakers, many short
// utterances each, plus the FSDD speakers, in the VoxCeleb layout the
// `speakers` dataset reader takes (speaker_dataset.h):
//
//   OUT/train/v<id>/s<k>/u<nnn>.wav      synthetic speakers: one espeak-ng
//                                        voice each (accent, variant timbre,
//                                        base pitch, pitch range); every
//                                        utterance one or two words at the
//                                        voice's speaking rate jittered by
//                                        up to +-12% (tempo only: the voice
//                                        stays the voice); two sessions
//                                        with their own level
//   OUT/train/fsdd-<name>/fsdd/*.wav     FSDD training speakers, recordings
//                                        with index >= fsdd_holdout
//   OUT/train/fsdd-<name>_nohash_sp<s>/fsdd/
//                                        the same at speed s (fsdd_speeds):
//                                        resampling moves pitch and formants,
//                                        so each is a new speaker (Kaldi's
//                                        and WeSpeaker's speed perturbation),
//                                        more real voices from the few we
//                                        have; "_nohash_" keeps it in the
//                                        split of its source speaker
//   OUT/test/fsdd-<name>/fsdd/*.wav      FSDD recordings with index <
//                                        fsdd_holdout of the training
//                                        speakers and of the test speakers
//                                        (yweweler: never in train/)
//   OUT/train/_background_noise_/*.wav   generated noise for augmentation
//   OUT/README.txt
//
// Speakers of train/ are held out for validation by the reader's hash rule
// (voices never heard in training). Every file depends only on the options
// and its speaker and index. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/util/status.h"

namespace chorus::data {

struct SpeakerSynthOptions {
  std::string out;
  int voices = 300;                 // synthetic speakers
  int utterances = 30;              // per synthetic speaker
  std::vector<std::string> words;   // empty: commands, digits and other words
  std::string fsdd_root;            // "": no FSDD speakers
  std::vector<std::string> fsdd_train_speakers = {"george", "jackson", "nicolas"};
  std::vector<std::string> fsdd_test_speakers = {"yweweler"};
  int fsdd_holdout = 10;            // FSDD recordings with a lower index are test material only
  std::vector<double> fsdd_speeds;  // extra training speakers: the FSDD ones at these speeds
  int sample_rate = 8000;
  uint64_t seed = 1;
};

Status ValidateSpeakerSynthOptions(const SpeakerSynthOptions& options);

// progress(done, total) from the calling thread while utterances are made.
Status MakeSpeakerDataset(const SpeakerSynthOptions& options,
                          const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace chorus::data
