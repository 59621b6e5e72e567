#include "common/data/folder_dataset.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/data/speech_commands.h"
#include "data_test_util.h"

namespace chorus::data {
namespace {

using testing::ScratchDir;
using testing::Touch;

TEST(FolderDataset, LabelsAreSortedFoldersAndSplitIsByHash) {
  ScratchDir dir("folder");
  for (int i = 0; i < 40; ++i) {
    Touch(dir / ("dog/d" + std::to_string(i) + ".wav"));
    Touch(dir / ("cat/spk" + std::to_string(i % 7) + "_nohash_" + std::to_string(i) + ".FLAC"));
    Touch(dir / ("bird/b" + std::to_string(i) + ".flac"));
  }
  Touch(dir / "bird/notes.txt");
  Touch(dir / "top_level_file.wav");
  Touch(dir / "_background_noise_/hum.wav");
  FolderDatasetOptions o;
  o.root = dir.path();
  o.validation_percentage = 20;
  o.testing_percentage = 15;
  auto r = LoadFolderDataset(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->labels, (std::vector<std::string>{"bird", "cat", "dog"}));
  EXPECT_EQ(r->noise_files, (std::vector<std::string>{dir / "_background_noise_/hum.wav"}));
  EXPECT_EQ(r->train.size() + r->validation.size() + r->test.size(), 120u);
  EXPECT_FALSE(r->train.empty());
  EXPECT_FALSE(r->validation.empty());
  EXPECT_FALSE(r->test.empty());
  const std::string names[3] = {"training", "validation", "testing"};
  const std::vector<Example>* lists[3] = {&r->train, &r->validation, &r->test};
  for (int s = 0; s < 3; ++s) {
    for (const auto& e : *lists[s]) {
      const std::string base = e.path.substr(e.path.rfind('/') + 1);
      EXPECT_EQ(WhichSet(base, 20, 15), names[s]) << e.path;
      EXPECT_EQ(e.path.substr(0, dir.path().size() + 1 + r->labels[e.label].size()),
                dir.path() + "/" + r->labels[e.label]);
      if (r->labels[e.label] == "cat") {
        EXPECT_EQ(e.speaker.substr(0, 3), "spk");
      } else {
        EXPECT_EQ(e.speaker, "");
      }
    }
  }
  // Speakers of cat never straddle splits (the hash ignores "_nohash_...").
  for (const auto& a : r->train) {
    for (const auto* other : {&r->validation, &r->test}) {
      for (const auto& b : *other) {
        if (!a.speaker.empty()) {
          EXPECT_NE(a.speaker, b.speaker);
        }
      }
    }
  }
}

TEST(FolderDataset, Errors) {
  ScratchDir dir("folder_err");
  FolderDatasetOptions o;
  o.root = dir / "missing";
  auto r = LoadFolderDataset(o);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(dir / "missing"), std::string::npos);
  o.root = dir.path();
  EXPECT_EQ(LoadFolderDataset(o).status().code(), StatusCode::kNotFound) << "no label folders";
  std::filesystem::create_directories(dir / "empty");
  r = LoadFolderDataset(o);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(dir / "empty"), std::string::npos);
  Touch(dir / "empty/a.wav");
  EXPECT_TRUE(LoadFolderDataset(o).ok());
  o.validation_percentage = -1;
  EXPECT_EQ(LoadFolderDataset(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chorus::data
