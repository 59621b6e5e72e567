// Speaker-recognition datasets in the VoxCeleb / CN-Celeb layout:
//   ROOT/<speaker>/<session>/<utterance>.wav|.flac
// (utterances directly under ROOT/<speaker>/ are accepted too: one session;
// folders whose name starts with '_' are not speakers, and the files of
// ROOT/_background_noise_/ are the noise for augmentation).
// Labels are the training speakers' names (sorted); an example's `speaker`
// is its folder name and, for training examples, `label` its index.
//
// The split is by speaker, never by utterance: a speaker's folder goes to
// validation or test by the speech-commands hash rule on its name up to
// "_nohash_" (validation_percentage, testing_percentage; so a speaker derived
// from another, "fsdd-george_nohash_sp0.9", goes where its source goes), or,
// with test_root set, every
// speaker of ROOT trains or validates and the test split is every speaker of
// TEST_ROOT (which may share speakers with ROOT: the FSDD speakers of the
// Chorus recipe are enrolled and tested on utterances they never trained on).
//
// Trial lists (VoxCeleb's format: "1 id10270/x6uYqmx31kE/00001.wav
// id10270/8jEAjG6SegY/00008.wav" per line, label 1 for the same speaker)
// name files relative to their split's root; a file not in the split, a
// label other than 0/1 or a short line is an error naming the list and line.
// Every problem is a Status naming the file. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/data/example.h"
#include "common/util/status.h"

namespace chorus::data {

struct SpeakerDatasetOptions {
  std::string root;
  std::string test_root;  // "": test speakers are held out of root by testing_percentage
  double validation_percentage = 10.0;
  double testing_percentage = 10.0;
  std::string validation_trials;  // trial list files ("": none)
  std::string test_trials;
};

Result<DatasetSplit> LoadSpeakerDataset(const SpeakerDatasetOptions& options);

// The utterances of a layout, by speaker then path (paths relative to root in `relative`).
Result<std::vector<Example>> ListSpeakerUtterances(const std::string& root, std::vector<std::string>* relative);

// Reads a trial list against `examples` (relative[i] is examples[i]'s path relative to the split's root).
Result<std::vector<Trial>> ReadTrialList(const std::string& path, const std::vector<std::string>& relative);

}  // namespace chorus::data
