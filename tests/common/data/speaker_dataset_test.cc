// The speakers reader (VoxCeleb layout, split by speaker, trial lists) and
// the speaker-synth maker that writes that layout.
#include "common/data/speaker_dataset.h"

#include <algorithm>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/data/speaker_synth.h"
#include "tests/common/data/data_test_util.h"

namespace chorus::data {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::Touch;
using testing::WriteTinyWav;

// speakers id00..id{n-1}, two sessions of two utterances each.
void MakeLayout(const std::string& root, int speakers) {
  for (int s = 0; s < speakers; ++s)
    for (const char* session : {"sessA", "sessB"})
      for (const char* utt : {"00001.wav", "00002.wav"})
        WriteTinyWav(root + "/id" + std::to_string(10 + s) + "/" + session + "/" + utt);
}

TEST(SpeakerDataset, SplitsBySpeakerNeverByUtterance) {
  ScratchDir dir("speakers");
  MakeLayout(dir.path(), 40);
  Touch(dir / "id10/notes.txt", "not audio");  // ignored
  WriteTinyWav(dir / "_background_noise_/hum.wav");
  SpeakerDatasetOptions o;
  o.root = dir.path();
  o.validation_percentage = 20;
  o.testing_percentage = 20;
  auto split = LoadSpeakerDataset(o);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->train.size() + split->validation.size() + split->test.size(), 160u);
  EXPECT_FALSE(split->validation.empty());
  EXPECT_FALSE(split->test.empty());
  std::set<std::string> train, held;
  for (const auto& e : split->train) train.insert(e.speaker);
  for (const auto* part : {&split->validation, &split->test})
    for (const auto& e : *part) held.insert(e.speaker);
  for (const auto& s : held) EXPECT_EQ(train.count(s), 0u) << s << " is both trained on and held out";
  // Labels are the training speakers, sorted; each training example points at its own.
  EXPECT_EQ(split->labels.size(), train.size());
  EXPECT_TRUE(std::is_sorted(split->labels.begin(), split->labels.end()));
  for (const auto& e : split->train) EXPECT_EQ(split->labels[e.label], e.speaker);
  EXPECT_EQ(split->noise_files.size(), 1u);
  EXPECT_EQ(std::count_if(split->labels.begin(), split->labels.end(),
                          [](const std::string& s) { return s.front() == '_'; }),
            0);
}

TEST(SpeakerDataset, TestRootAndTrialLists) {
  ScratchDir dir("speakers_trials");
  MakeLayout(dir / "train", 3);
  MakeLayout(dir / "test", 2);
  Touch(dir / "trials.txt",
        "1 id10/sessA/00001.wav id10/sessB/00002.wav\n"
        "0 id10/sessA/00001.wav id11/sessA/00002.wav\n\n");
  SpeakerDatasetOptions o;
  o.root = dir / "train";
  o.test_root = dir / "test";
  o.validation_percentage = 0;
  o.test_trials = dir / "trials.txt";
  auto split = LoadSpeakerDataset(o);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->train.size(), 12u);
  EXPECT_EQ(split->test.size(), 8u);
  ASSERT_EQ(split->test_trials.size(), 2u);
  const Trial& t = split->test_trials[0];
  EXPECT_TRUE(t.target);
  EXPECT_EQ(split->test[t.enrol].path, dir / "test/id10/sessA/00001.wav");
  EXPECT_EQ(split->test[t.test].path, dir / "test/id10/sessB/00002.wav");
  EXPECT_FALSE(split->test_trials[1].target);

  // Bad trial lists name the list and the line.
  Touch(dir / "bad.txt", "1 id10/sessA/00001.wav id10/sessB/00002.wav\n2 a b\n");
  o.test_trials = dir / "bad.txt";
  auto bad = LoadSpeakerDataset(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("bad.txt:2"));
  Touch(dir / "missing.txt", "1 id10/sessA/00001.wav id99/x/1.wav\n");
  o.test_trials = dir / "missing.txt";
  bad = LoadSpeakerDataset(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("id99/x/1.wav"));
  Touch(dir / "short.txt", "1 id10/sessA/00001.wav\n");
  o.test_trials = dir / "short.txt";
  EXPECT_FALSE(LoadSpeakerDataset(o).ok());
}

TEST(SpeakerDataset, NeedsTwoTrainingSpeakersAndAnExistingFolder) {
  ScratchDir dir("speakers_few");
  MakeLayout(dir.path(), 1);
  SpeakerDatasetOptions o;
  o.root = dir.path();
  o.validation_percentage = 0;
  o.testing_percentage = 0;
  auto one = LoadSpeakerDataset(o);
  ASSERT_FALSE(one.ok());
  EXPECT_THAT(one.status().message(), HasSubstr("at least 2 training speakers"));
  o.root = dir / "nope";
  EXPECT_FALSE(LoadSpeakerDataset(o).ok());
}

TEST(SpeakerSynth, WritesTheLayoutTheReaderTakes) {
  ScratchDir dir("speaker_synth");
  SpeakerSynthOptions o;
  o.out = dir.path();
  o.voices = 3;
  o.utterances = 4;
  o.words = {"yes", "no"};
  ASSERT_TRUE(MakeSpeakerDataset(o).ok());
  SpeakerDatasetOptions r;
  r.root = dir / "train";
  r.validation_percentage = 0;
  r.testing_percentage = 0;
  auto split = LoadSpeakerDataset(r);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->labels.size(), 3u);
  EXPECT_EQ(split->train.size(), 12u);
  EXPECT_EQ(split->noise_files.size(), 6u);
  // Same options, same files.
  ScratchDir again("speaker_synth_again");
  o.out = again.path();
  ASSERT_TRUE(MakeSpeakerDataset(o).ok());
  auto a = testing::ReadBytes(split->train[5].path);
  auto b = testing::ReadBytes(again.path() + split->train[5].path.substr(dir.path().size()));
  EXPECT_FALSE(a.empty());
  EXPECT_EQ(a, b);
  // Bad options are refused before anything is written.
  o.utterances = 1;
  EXPECT_THAT(ValidateSpeakerSynthOptions(o).message(), HasSubstr("utterances"));
  o.utterances = 4;
  o.fsdd_test_speakers = {"george"};
  EXPECT_THAT(ValidateSpeakerSynthOptions(o).message(), HasSubstr("george"));
}

}  // namespace
}  // namespace chorus::data
