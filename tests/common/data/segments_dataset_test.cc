// The segments reader: recordings with speech regions from segments.csv or
// RTTM files, merged and split; every bad row is an error naming file:line.
#include "common/data/segments_dataset.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/common/data/data_test_util.h"

namespace chorus::data {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDir;
using testing::Touch;
using testing::WriteTinyWav;

const Example* Find(const DatasetSplit& s, const std::string& suffix) {
  for (const auto* list : {&s.train, &s.validation, &s.test})
    for (const auto& e : *list)
      if (e.path.size() >= suffix.size() && e.path.compare(e.path.size() - suffix.size(), suffix.size(), suffix) == 0)
        return &e;
  return nullptr;
}

TEST(SegmentsDataset, ReadsCsvMergesOverlapsAndKeepsRecordingsWithoutSpeech) {
  ScratchDir dir("segments_csv");
  for (const char* f : {"a.wav", "sub/b.wav", "quiet.wav"}) WriteTinyWav(dir / f);
  Touch(dir / "segments.csv", "file,start,end\na.wav,0.5,1.0\na.wav,0.8,1.5\nsub/b.wav, 2.25 ,3\n\na.wav,3,3.5\n");
  SegmentsDatasetOptions o;
  o.root = dir.path();
  o.validation_percentage = 0;
  o.testing_percentage = 0;
  auto split = LoadSegmentsDataset(o);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->labels, std::vector<std::string>{"speech"});
  EXPECT_EQ(split->train.size(), 3u);
  const Example* a = Find(*split, "/a.wav");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->speech, (Segments{{0.5, 1.5}, {3.0, 3.5}}));
  EXPECT_EQ(Find(*split, "sub/b.wav")->speech, (Segments{{2.25, 3.0}}));
  EXPECT_TRUE(Find(*split, "quiet.wav")->speech.empty());
}

TEST(SegmentsDataset, ReadsRttm) {
  ScratchDir dir("segments_rttm");
  WriteTinyWav(dir / "audio/meeting1.flac.wav");
  WriteTinyWav(dir / "audio/call2.wav");
  Touch(dir / "ref/all.rttm",
        "SPEAKER call2 1 0.40 1.10 <NA> <NA> spk1 <NA> <NA>\n"
        "SPKR-INFO call2 1 <NA> <NA> <NA> unknown spk1 <NA> <NA>\n"
        "SPEAKER call2 1 1.20 0.30 <NA> <NA> spk2 <NA> <NA>\n");
  SegmentsDatasetOptions o;
  o.root = dir.path();
  auto split = LoadSegmentsDataset(o);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  const Example* call = Find(*split, "call2.wav");
  ASSERT_NE(call, nullptr);
  ASSERT_EQ(call->speech.size(), 1u);  // [0.4, 1.5) and [1.2, 1.5) overlap
  EXPECT_DOUBLE_EQ(call->speech[0].first, 0.4);
  EXPECT_NEAR(call->speech[0].second, 1.5, 1e-12);
}

TEST(SegmentsDataset, BadAnnotationsAreErrorsNamingFileAndLine) {
  auto load = [](const std::string& root) {
    SegmentsDatasetOptions o;
    o.root = root;
    return LoadSegmentsDataset(o).status();
  };
  ScratchDir dir("segments_bad");
  WriteTinyWav(dir / "a.wav");
  Touch(dir / "segments.csv", "a.wav,0.5,1.0\na.wav,abc,2\n");
  EXPECT_THAT(load(dir.path()).message(), HasSubstr("segments.csv:2: start 'abc'"));
  Touch(dir / "segments.csv", "a.wav,2,1\n");
  EXPECT_THAT(load(dir.path()).message(), HasSubstr("segments.csv:1: the segment ends"));
  Touch(dir / "segments.csv", "missing.wav,0,1\n");
  EXPECT_THAT(load(dir.path()).message(), HasSubstr("segments.csv:1: no audio file 'missing.wav'"));
  Touch(dir / "segments.csv", "a.wav,0,1,extra\n");
  EXPECT_THAT(load(dir.path()).message(), HasSubstr("expected file,start,end"));
  Touch(dir / "segments.csv", "a.wav,-1,1\n");
  EXPECT_THAT(load(dir.path()).message(), HasSubstr("start '-1'"));
  std::filesystem::remove(dir / "segments.csv");
  EXPECT_THAT(load(dir.path()).message(), HasSubstr("no segments.csv and no .rttm"));
  Touch(dir / "x.rttm", "SPEAKER a 1 0.5\n");
  EXPECT_THAT(load(dir.path()).message(), HasSubstr("x.rttm:1"));
  EXPECT_THAT(load(dir / "nowhere").message(), HasSubstr("not found"));
}

}  // namespace
}  // namespace chorus::data
