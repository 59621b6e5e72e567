#include "common/data/speech_commands.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "data_test_util.h"

namespace chorus::data {
namespace {

using testing::RunPython;
using testing::ScratchDir;
using testing::SplitLines;
using testing::Touch;

TEST(WhichSet, KnownValues) {
  // Percentages from Python: bb05582b 18.13, 0a7c2a8d 56.84, x 4.50, abc.wav 82.79.
  EXPECT_EQ(WhichSet("bb05582b_nohash_3.wav", 10, 10), "testing");
  EXPECT_EQ(WhichSet("bb05582b_nohash_0.wav", 10, 10), "testing");  // the take does not matter
  EXPECT_EQ(WhichSet("yes/bb05582b_nohash_3.wav", 10, 10), "testing");
  EXPECT_EQ(WhichSet("bb05582b_nohash_3.wav", 18.2, 0), "validation");
  EXPECT_EQ(WhichSet("bb05582b_nohash_3.wav", 18.1, 0), "training");
  EXPECT_EQ(WhichSet("0a7c2a8d_nohash_0.wav", 10, 10), "training");
  EXPECT_EQ(WhichSet("0a7c2a8d_nohash_0.wav", 50, 7), "testing");
  EXPECT_EQ(WhichSet("x_nohash_y_nohash_z.wav", 10, 10), "validation");
  EXPECT_EQ(WhichSet("abc.wav", 82.7, 0.1), "testing");
  EXPECT_EQ(WhichSet("abc.wav", 0, 0), "training");
}

// The hash rule against TensorFlow's which_set run by the system Python.
TEST(WhichSet, MatchesPythonHashRule) {
  if (!testing::HavePython()) GTEST_SKIP() << "/usr/bin/python3 not found";
  std::vector<std::string> names = {"bb05582b_nohash_3.wav",           "0a7c2a8d_nohash_0.wav",
                                    "c50f55b8_nohash_1.wav",           "abc.wav",
                                    "x_nohash_y_nohash_z.wav",         "3_george_7.wav",
                                    "ffd2ba2f_nohash_4.wav",           "e0315cf6_nohash_0.wav",
                                    "speaker-with-dash_nohash_12.wav", "a b c.flac"};
  for (int i = 0; i < 40; ++i) names.push_back(std::to_string(i * 7919) + "_nohash_0.wav");
  const std::vector<std::pair<double, double>> thresholds = {{10, 10}, {20, 30}, {0, 50}, {50, 0}, {33.3, 33.3}};
  std::string script =
      "import hashlib, re, sys\n"
      "M = 2**27 - 1\n"
      "def which_set(filename, v, t):\n"
      "    base_name = filename.split(\"/\")[-1]\n"
      "    hash_name = re.sub(r\"_nohash_.*$\", \"\", base_name)\n"
      "    h = hashlib.sha1(hash_name.encode()).hexdigest()\n"
      "    p = (int(h, 16) % (M + 1)) * (100.0 / M)\n"
      "    return \"validation\" if p < v else (\"testing\" if p < v + t else \"training\")\n"
      "names = [";
  for (const auto& n : names) script += "\"" + n + "\",";
  script += "]\nfor n in names:\n    print(\"|\".join([which_set(n, v, t) for (v, t) in [";
  for (const auto& [v, t] : thresholds) {
    std::ostringstream s;
    s.precision(17);
    s << "(" << v << "," << t << "),";
    script += s.str();
  }
  script += "]]))\n";
  int rc = 0;
  std::string out = RunPython(script, &rc);
  ASSERT_EQ(rc, 0) << out;
  auto lines = SplitLines(out);
  ASSERT_EQ(lines.size(), names.size()) << out;
  for (size_t i = 0; i < names.size(); ++i) {
    std::string mine;
    for (const auto& [v, t] : thresholds) mine += (mine.empty() ? "" : "|") + WhichSet(names[i], v, t);
    EXPECT_EQ(mine, lines[i]) << names[i];
  }
}

// ROOT/{yes,no,cat,dog}/<spk>_nohash_<k>.wav (empty files: the reader does not
// open them) plus two noise files and a stray text file.
void MakeLayout(const std::string& root, int speakers_per_word) {
  for (const std::string word : {"yes", "no", "cat", "dog"}) {
    for (int s = 0; s < speakers_per_word; ++s) {
      char spk[16];
      std::snprintf(spk, sizeof(spk), "%08x", static_cast<unsigned>(s * 2654435761u + word.size()));
      for (int k = 0; k < 2; ++k) Touch(root + "/" + word + "/" + spk + "_nohash_" + std::to_string(k) + ".wav");
    }
    Touch(root + "/" + word + "/notes.txt");
  }
  Touch(root + "/_background_noise_/white_noise.wav");
  Touch(root + "/_background_noise_/pink_noise.wav");
  Touch(root + "/_background_noise_/README.md");
}

int SplitOf(const DatasetSplit& split, const std::string& path) {
  for (const auto& e : split.train)
    if (e.path == path) return 0;
  for (const auto& e : split.validation)
    if (e.path == path) return 1;
  for (const auto& e : split.test)
    if (e.path == path) return 2;
  return -1;
}

TEST(SpeechCommands, HashSplitLabelsUnknownAndSilence) {
  ScratchDir dir("sc");
  MakeLayout(dir.path(), 60);
  SpeechCommandsOptions o;
  o.root = dir.path();
  o.words = {"yes", "no"};
  o.silence_percentage = 10;
  o.unknown_percentage = 25;
  auto r = LoadSpeechCommands(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const DatasetSplit& split = *r;
  EXPECT_EQ(split.labels, (std::vector<std::string>{"_silence_", "_unknown_", "yes", "no"}));
  EXPECT_EQ(split.noise_files, (std::vector<std::string>{dir / "_background_noise_/pink_noise.wav",
                                                         dir / "_background_noise_/white_noise.wav"}));

  const std::string names[3] = {"training", "validation", "testing"};
  const std::vector<Example>* lists[3] = {&split.train, &split.validation, &split.test};
  int total_words = 0;
  for (int s = 0; s < 3; ++s) {
    int words = 0, unknown = 0, silence = 0;
    for (const auto& e : *lists[s]) {
      if (e.label == 0) {
        ++silence;
        EXPECT_TRUE(e.path.empty());
        EXPECT_TRUE(e.speaker.empty());
        continue;
      }
      ASSERT_FALSE(e.path.empty());
      const std::string base = e.path.substr(e.path.rfind('/') + 1);
      const std::string folder = e.path.substr(dir.path().size() + 1, e.path.rfind('/') - dir.path().size() - 1);
      EXPECT_EQ(e.speaker, base.substr(0, 8));
      EXPECT_EQ(WhichSet(base, 10, 10), names[s]) << e.path;
      if (e.label == 1) {
        ++unknown;
        EXPECT_TRUE(folder == "cat" || folder == "dog") << e.path;
      } else {
        ++words;
        EXPECT_EQ(split.labels[e.label], folder) << e.path;
      }
    }
    EXPECT_GT(words, 0) << names[s];
    total_words += words;
    EXPECT_EQ(silence, static_cast<int>(std::ceil(words * 0.10))) << names[s];
    EXPECT_EQ(unknown, static_cast<int>(std::ceil(words * 0.25))) << names[s];
  }
  EXPECT_EQ(total_words, 2 * 60 * 2);
  // Every yes/no file is in exactly the split the hash rule names.
  for (const std::string word : {"yes", "no"}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir / word)) {
      const std::string p = entry.path().string();
      if (p.size() < 4 || p.substr(p.size() - 4) != ".wav") continue;
      const std::string which = WhichSet(p, 10, 10);
      EXPECT_EQ(SplitOf(split, p), which == "training" ? 0 : which == "validation" ? 1 : 2) << p;
    }
  }
}

TEST(SpeechCommands, UnknownChoiceFollowsSeed) {
  ScratchDir dir("sc_seed");
  MakeLayout(dir.path(), 60);
  SpeechCommandsOptions o;
  o.root = dir.path();
  o.words = {"yes"};
  o.unknown_percentage = 20;
  auto paths = [](const DatasetSplit& s) {
    std::vector<std::string> p;
    for (const auto& e : s.train) p.push_back(e.path);
    return p;
  };
  auto a = LoadSpeechCommands(o);
  auto b = LoadSpeechCommands(o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(paths(*a), paths(*b));
  o.seed += 1;
  auto c = LoadSpeechCommands(o);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(paths(*a).size(), paths(*c).size());
  EXPECT_NE(paths(*a), paths(*c));
}

TEST(SpeechCommands, EmptyWordsMeansEveryFolder) {
  ScratchDir dir("sc_all");
  MakeLayout(dir.path(), 3);
  SpeechCommandsOptions o;
  o.root = dir.path();
  auto r = LoadSpeechCommands(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->labels, (std::vector<std::string>{"_silence_", "_unknown_", "cat", "dog", "no", "yes"}));
}

TEST(SpeechCommands, ShippedListsWinWhenBothExist) {
  ScratchDir dir("sc_lists");
  MakeLayout(dir.path(), 5);
  // Extra files whose split comes from the lists, not from the hash rule.
  const std::string spk = "00000005";
  Touch(dir / ("yes/" + spk + "_nohash_0.wav"));
  Touch(dir / ("yes/" + spk + "_nohash_1.wav"));
  Touch(dir / "no/ffffffff_nohash_0.wav");
  Touch(dir / "validation_list.txt", "yes/" + spk + "_nohash_0.wav\r\n\n");
  Touch(dir / "testing_list.txt", "./yes/" + spk + "_nohash_1.wav\nno/ffffffff_nohash_0.wav\n");
  SpeechCommandsOptions o;
  o.root = dir.path();
  o.words = {"yes", "no"};
  o.silence_percentage = 0;
  o.unknown_percentage = 0;
  auto r = LoadSpeechCommands(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->validation.size(), 1u);
  EXPECT_EQ(r->validation[0].path, dir / ("yes/" + spk + "_nohash_0.wav"));
  EXPECT_EQ(r->validation[0].speaker, spk);
  ASSERT_EQ(r->test.size(), 2u);
  EXPECT_EQ(r->train.size(), 2u * 2 * 5);

  // With only one list the hash rule is used.
  std::filesystem::remove(dir / "testing_list.txt");
  auto h = LoadSpeechCommands(o);
  ASSERT_TRUE(h.ok());
  for (const auto* list : {&h->train, &h->validation, &h->test}) {
    for (const auto& e : *list) EXPECT_EQ(SplitOf(*h, e.path), list == &h->train ? 0 : list == &h->validation ? 1 : 2);
  }
  size_t n = h->train.size() + h->validation.size() + h->test.size();
  EXPECT_EQ(n, 2u * 2 * 5 + 3);
}

TEST(SpeechCommands, ErrorsNameThePath) {
  ScratchDir dir("sc_err");
  SpeechCommandsOptions o;
  o.words = {"yes"};
  o.root = dir / "missing";
  auto r = LoadSpeechCommands(o);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(dir / "missing"), std::string::npos) << r.status().ToString();

  Touch(dir / "_background_noise_/n.wav");
  o.root = dir.path();
  r = LoadSpeechCommands(o);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("no word folders"), std::string::npos) << r.status().ToString();

  Touch(dir / "no/a_nohash_0.wav");
  r = LoadSpeechCommands(o);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(dir / "yes"), std::string::npos) << r.status().ToString();

  std::filesystem::create_directories(dir / "yes");
  r = LoadSpeechCommands(o);
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << "a wanted word with no wav files";

  Touch(dir / "yes/a_nohash_0.wav");
  EXPECT_TRUE(LoadSpeechCommands(o).ok());
  o.validation_percentage = 70;
  o.testing_percentage = 40;
  EXPECT_EQ(LoadSpeechCommands(o).status().code(), StatusCode::kInvalidArgument);
  o.validation_percentage = 10;
  o.testing_percentage = 10;
  o.words = {"yes", "yes"};
  EXPECT_EQ(LoadSpeechCommands(o).status().code(), StatusCode::kInvalidArgument);
  o.words = {"_unknown_"};
  EXPECT_EQ(LoadSpeechCommands(o).status().code(), StatusCode::kInvalidArgument);
  o.words = {"yes"};
  o.unknown_percentage = -1;
  EXPECT_EQ(LoadSpeechCommands(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chorus::data
