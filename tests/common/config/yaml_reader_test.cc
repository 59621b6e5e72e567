#include "common/config/yaml_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chorus::config {
namespace {

using ::testing::HasSubstr;

struct Options {
  int batch = 8;
  double lr = 0.1;
  std::string name;
  std::vector<std::string> words;
  bool flag = false;
  uint64_t seed = 0;
};

Status Read(const std::string& text, Options* o) {
  ASSIGN_OR_RETURN(YamlReader reader, YamlReader::LoadString(text, "job.yaml"));
  ConfigNode root = reader.Root();
  root.Require("name", &o->name);
  ConfigNode t = root.Child("training");
  t.Get("batch", &o->batch);
  t.Get("lr", &o->lr);
  t.Get("words", &o->words);
  t.Get("flag", &o->flag);
  t.Get("seed", &o->seed);
  t.Check(o->batch > 0, "batch", "must be positive");
  return reader.Finish();
}

TEST(YamlReader, ReadsTypedValuesAndKeepsDefaults) {
  Options o;
  ASSERT_TRUE(Read("name: a\ntraining:\n  lr: 0.5\n  words: [x, y]\n  flag: true\n", &o).ok());
  EXPECT_EQ(o.name, "a");
  EXPECT_EQ(o.batch, 8);
  EXPECT_DOUBLE_EQ(o.lr, 0.5);
  EXPECT_EQ(o.words, (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(o.flag);
}

TEST(YamlReader, UnknownKeyNamesFileLineAndKey) {
  Options o;
  Status st = Read("name: a\ntraining:\n  lr: 0.5\n  bacth: 3\n", &o);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("job.yaml:4:3: training.bacth: unknown key"));
  EXPECT_THAT(st.message(), HasSubstr("batch"));  // the known keys are listed
}

TEST(YamlReader, WrongTypeNamesFileLineAndKey) {
  Options o;
  Status st = Read("name: a\ntraining:\n  batch: lots\n", &o);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("job.yaml:3:10: training.batch: expected an integer, got 'lots'"));
}

TEST(YamlReader, ReportsEveryProblemAtOnce) {
  Options o;
  Status st = Read("training:\n  batch: -2\n  seed: -1\n  words: 3\n  extra: 1\n", &o);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("name: required key is missing"));
  EXPECT_THAT(st.message(), HasSubstr("training.batch: must be positive"));
  EXPECT_THAT(st.message(), HasSubstr("training.seed: expected a non-negative integer"));
  EXPECT_THAT(st.message(), HasSubstr("training.words: expected a list"));
  EXPECT_THAT(st.message(), HasSubstr("training.extra: unknown key"));
}

TEST(YamlReader, SyntaxErrorAndNonMappingAreRefused) {
  auto bad = YamlReader::LoadString("name: [unclosed\n", "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("x.yaml:"));
  EXPECT_THAT(bad.status().message(), HasSubstr("syntax"));
  auto list = YamlReader::LoadString("- 1\n- 2\n", "y.yaml");
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.status().message(), HasSubstr("top level"));
  auto missing = YamlReader::LoadFile("/nonexistent/job.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/job.yaml"));
}

TEST(YamlReader, AKeyWrittenTwiceIsRefusedWithBothPlaces) {
  auto top = YamlReader::LoadString("name: a\nepochs: 1\nname: b\n", "job.yaml");
  ASSERT_FALSE(top.ok());
  EXPECT_THAT(top.status().message(), HasSubstr("job.yaml:3:1: key 'name' appears twice"));
  EXPECT_THAT(top.status().message(), HasSubstr("first at 1:1"));
  auto nested = YamlReader::LoadString("training:\n  epochs: 1\n  batch_size: 2\n  epochs: 3\n", "job.yaml");
  ASSERT_FALSE(nested.ok());
  EXPECT_THAT(nested.status().message(), HasSubstr("key 'epochs' appears twice"));
  // The same key in two mappings is fine.
  EXPECT_TRUE(YamlReader::LoadString("a: {x: 1}\nb: {x: 2}\nc: [{x: 1}, {x: 2}]\n", "ok.yaml").ok());
  // Aliases that expand to billions of nodes are refused, not walked.
  std::string laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    const std::string prev = "*l" + std::to_string(i - 1);
    std::string items = prev;
    for (int k = 1; k < 10; ++k) items += ", " + prev;
    laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + items + "]\n";
  }
  auto bomb = YamlReader::LoadString(laughs, "bomb.yaml");
  ASSERT_FALSE(bomb.ok());
  EXPECT_THAT(bomb.status().message(), HasSubstr("aliases"));
}

TEST(YamlReader, SectionThatIsNotAMappingIsAnError) {
  Options o;
  Status st = Read("name: a\ntraining: 5\n", &o);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("training: expected a mapping"));
}

}  // namespace
}  // namespace chorus::config
