#include "common/data/fsdd.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "data_test_util.h"

namespace chorus::data {
namespace {

using testing::ScratchDir;
using testing::Touch;

void MakeRecordings(const std::string& dir, const std::vector<std::string>& speakers, int per_digit) {
  for (const auto& spk : speakers) {
    for (int d = 0; d < 10; ++d) {
      for (int i = 0; i < per_digit; ++i) {
        Touch(dir + "/" + std::to_string(d) + "_" + spk + "_" + std::to_string(i) + ".wav");
      }
    }
  }
}

TEST(Fsdd, SplitsBySpeaker) {
  ScratchDir dir("fsdd");
  MakeRecordings(dir / "recordings", {"alice", "bob", "carol", "dave"}, 12);
  Touch(dir / "recordings/README.md");  // not a .wav: ignored
  FsddOptions o;
  o.root = dir.path();  // the "recordings" subfolder is found
  o.train_speakers = {"alice", "bob"};
  o.validation_speakers = {"carol"};
  o.test_speakers = {"dave"};
  auto r = LoadFsdd(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->labels, (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  EXPECT_EQ(r->train.size(), 2u * 10 * 12);
  EXPECT_EQ(r->validation.size(), 10u * 12);
  EXPECT_EQ(r->test.size(), 10u * 12);
  EXPECT_TRUE(r->noise_files.empty());
  std::map<std::string, std::set<std::string>> speakers_by_split;
  for (const auto& [name, list] :
       {std::pair{"train", &r->train}, std::pair{"validation", &r->validation}, std::pair{"test", &r->test}}) {
    for (const auto& e : *list) {
      speakers_by_split[name].insert(e.speaker);
      const std::string base = e.path.substr(e.path.rfind('/') + 1);
      EXPECT_EQ(base.substr(0, 2), std::to_string(e.label) + "_") << e.path;
      EXPECT_EQ(base.substr(2, e.speaker.size()), e.speaker);
      EXPECT_TRUE(std::filesystem::exists(e.path)) << e.path;
    }
  }
  EXPECT_EQ(speakers_by_split["train"], (std::set<std::string>{"alice", "bob"}));
  EXPECT_EQ(speakers_by_split["validation"], (std::set<std::string>{"carol"}));
  EXPECT_EQ(speakers_by_split["test"], (std::set<std::string>{"dave"}));
  // Deterministic, numeric index order within a speaker and digit.
  EXPECT_EQ(r->train[0].path, dir / "recordings/0_alice_0.wav");
  EXPECT_EQ(r->train[2].path, dir / "recordings/0_alice_2.wav");
  EXPECT_EQ(r->train[10].path, dir / "recordings/0_alice_10.wav");
}

TEST(Fsdd, UnlistedSpeakersIgnoredAndFlatRootWorks) {
  ScratchDir dir("fsdd_flat");
  MakeRecordings(dir.path(), {"alice", "bob", "carol"}, 2);
  FsddOptions o;
  o.root = dir.path();
  o.train_speakers = {"alice"};
  o.test_speakers = {"bob"};
  auto r = LoadFsdd(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train.size(), 20u);
  EXPECT_TRUE(r->validation.empty());
  EXPECT_EQ(r->test.size(), 20u);
}

TEST(Fsdd, Errors) {
  ScratchDir dir("fsdd_err");
  MakeRecordings(dir.path(), {"alice", "bob"}, 1);
  FsddOptions o;
  o.root = dir / "nope";
  o.train_speakers = {"alice"};
  o.test_speakers = {"bob"};
  auto r = LoadFsdd(o);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(dir / "nope"), std::string::npos);

  o.root = dir.path();
  o.test_speakers = {"alice"};
  EXPECT_EQ(LoadFsdd(o).status().code(), StatusCode::kInvalidArgument) << "speaker in two lists";
  o.test_speakers = {"zed"};
  r = LoadFsdd(o);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("zed"), std::string::npos);
  o.test_speakers = {"bob"};
  ASSERT_TRUE(LoadFsdd(o).ok());

  for (const std::string bad : {"x_alice_1.wav", "12_alice_1.wav", "3_alice.wav", "3__1.wav", "3_alice_x.wav"}) {
    Touch(dir / bad);
    r = LoadFsdd(o);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find(dir / bad), std::string::npos) << r.status().ToString();
    std::filesystem::remove(dir / bad);
  }
  // The pattern splits at the first and last underscore, so "3_a_b_1.wav" is
  // speaker "a_b".
  Touch(dir / "3_a_b_1.wav");
  o.validation_speakers = {"a_b"};
  r = LoadFsdd(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->validation.size(), 1u);
  EXPECT_EQ(r->validation[0].label, 3);
}

TEST(Fsdd, RealDataset) {
  const std::string root = "/work/shared/data/fsdd";
  if (!std::filesystem::is_directory(root + "/recordings")) GTEST_SKIP() << root << " not present";
  FsddOptions o;
  o.root = root;
  o.train_speakers = {"george", "jackson"};
  o.validation_speakers = {"nicolas"};
  o.test_speakers = {"yweweler"};
  auto r = LoadFsdd(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->train.size(), 1000u);
  EXPECT_EQ(r->validation.size(), 500u);
  EXPECT_EQ(r->test.size(), 500u);
  std::vector<int> per_label(10, 0);
  for (const auto& e : r->train) ++per_label[e.label];
  for (int c : per_label) EXPECT_EQ(c, 100);
}

}  // namespace
}  // namespace chorus::data
