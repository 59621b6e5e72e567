// The speaker registry (SQLite, beside the job store) and the speaker API
// over it, with a fake embedding model: enrolment, verification,
// identification, persistence across a reopen (a coordinator restart), the
// bad inputs, and deletion that leaves no copy in the database files.
#include "coordinator/serving/speaker_registry.h"

#include <cstring>
#include <fstream>
#include <iterator>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/http_common.h"
#include "coordinator/serving/speaker_api.h"
#include "coordinator/training/job_store.h"
#include "tests/coordinator/coordinator_test_util.h"

namespace chorus::coordinator {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// "Audio" is a name the fake model knows: its embedding, or its refusal.
struct FakeModel {
  std::map<std::string, std::vector<float>> embeddings = {
      {"alice-1", {1.0f, 0.1f, 0.0f}}, {"alice-2", {0.9f, 0.0f, 0.1f}}, {"alice-3", {1.0f, 0.05f, 0.05f}},
      {"bob-1", {0.0f, 1.0f, 0.1f}},   {"bob-2", {0.1f, 0.9f, 0.0f}},   {"carol-1", {0.0f, 0.0f, 1.0f}},
      {"odd", {0.123456f, 0.654321f, 0.777777f}}};
  std::string task = "embed";
  int calls = 0;

  Result<std::vector<float>> Embed(const std::string&, const std::string& audio) {
    ++calls;
    if (audio == "silence") return InvalidArgument("the utterance is silent (no 20 ms frame above -60 dBFS)");
    auto it = embeddings.find(audio);
    if (it == embeddings.end()) return InvalidArgument("the request's audio: not a WAV file");
    return it->second;
  }
  Result<EmbedModelFacts> Facts(const std::string& model) {
    if (model != "spk") return NotFound("unknown model '" + model + "'");
    return EmbedModelFacts{task, 0.7};
  }
};

class SpeakerApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen() {
    api_.reset();
    registry_.reset();
    auto r = SpeakerRegistry::Open(path());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    registry_ = std::move(*r);
    api_ = std::make_unique<SpeakerApi>(
        *registry_, [this](const std::string& m, const std::string& a) { return model_.Embed(m, a); },
        [this](const std::string& m) { return model_.Facts(m); });
  }
  std::string path() const { return dir_.path() + "/jobs.db"; }
  std::string FileBytes(const std::string& p) const {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  TempDir dir_;
  FakeModel model_;
  std::unique_ptr<SpeakerRegistry> registry_;
  std::unique_ptr<SpeakerApi> api_;
};

TEST_F(SpeakerApiTest, EnrolVerifyIdentify) {
  auto enrolled = api_->Enrol("spk", "alice", {"alice-1", "alice-2"});
  ASSERT_TRUE(enrolled.ok()) << enrolled.status().ToString();
  EXPECT_EQ((*enrolled)["utterances"], 2);
  EXPECT_FALSE((*enrolled)["re_enrolled"].get<bool>());
  ASSERT_TRUE(api_->Enrol("spk", "bob", {"bob-1"}).ok());

  auto yes = api_->Verify("spk", "alice", "alice-3");
  ASSERT_TRUE(yes.ok());
  EXPECT_TRUE((*yes)["accepted"].get<bool>());
  EXPECT_GT((*yes)["score"].get<double>(), 0.9);
  auto no = api_->Verify("spk", "alice", "bob-2");
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE((*no)["accepted"].get<bool>());
  EXPECT_DOUBLE_EQ((*no)["threshold"].get<double>(), 0.7);

  auto who = api_->Identify("spk", "bob-2", 2);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ((*who)["speaker"], "bob");
  ASSERT_EQ((*who)["candidates"].size(), 2u);
  EXPECT_EQ((*who)["candidates"][0]["speaker"], "bob");
  EXPECT_EQ((*who)["candidates"][1]["speaker"], "alice");
  auto stranger = api_->Identify("spk", "carol-1", 3);
  ASSERT_TRUE(stranger.ok());
  EXPECT_EQ((*stranger)["speaker"], "unknown");  // below the threshold

  auto list = api_->List("spk");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ((*list)["speakers"].size(), 2u);
  EXPECT_EQ((*list)["speakers"][0]["speaker"], "alice");
  EXPECT_EQ(list->dump().find("embedding"), std::string::npos);  // never in a reply

  // Re-enrolling replaces the voiceprint.
  auto again = api_->Enrol("spk", "alice", {"carol-1"});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)["re_enrolled"].get<bool>());
  EXPECT_FALSE((*api_->Verify("spk", "alice", "alice-1"))["accepted"].get<bool>());
}

TEST_F(SpeakerApiTest, SurvivesACoordinatorRestart) {
  ASSERT_TRUE(api_->Enrol("spk", "alice", {"alice-1", "alice-2", "alice-3"}).ok());
  auto before = registry_->Get("spk", "alice");
  ASSERT_TRUE(before.ok());
  // The job store shares the file (its own connection) and does not disturb it.
  auto store = JobStore::Open(path());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  store->reset();
  Reopen();
  auto after = registry_->Get("spk", "alice");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(after->embedding, before->embedding);
  EXPECT_EQ(after->utterances, 3);
  EXPECT_TRUE((*api_->Verify("spk", "alice", "alice-1"))["accepted"].get<bool>());
}

TEST_F(SpeakerApiTest, BadInputsAreClearErrorsAndWriteNothing) {
  ASSERT_TRUE(api_->Enrol("spk", "alice", {"alice-1"}).ok());
  const std::vector<float> kept = registry_->Get("spk", "alice")->embedding;

  auto none = api_->Enrol("spk", "bob", {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(HttpStatusOf(none.status()), 400);
  EXPECT_THAT(none.status().message(), HasSubstr("at least one utterance"));

  // A silent second utterance: the error names it, and neither bob nor alice changes.
  auto silent = api_->Enrol("spk", "bob", {"bob-1", "silence"});
  ASSERT_FALSE(silent.ok());
  EXPECT_THAT(silent.status().message(), HasSubstr("utterance 2"));
  EXPECT_THAT(silent.status().message(), HasSubstr("silent"));
  EXPECT_EQ(registry_->Get("spk", "bob").status().code(), StatusCode::kNotFound);
  ASSERT_FALSE(api_->Enrol("spk", "alice", {"bob-1", "silence"}).ok());
  EXPECT_EQ(registry_->Get("spk", "alice")->embedding, kept);

  auto unknown = api_->Verify("spk", "zed", "alice-1");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(HttpStatusOf(unknown.status()), 404);
  EXPECT_THAT(unknown.status().message(), HasSubstr("zed"));

  ASSERT_TRUE(api_->Delete("spk", "alice").ok());
  auto empty = api_->Identify("spk", "alice-1", 3);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(HttpStatusOf(empty.status()), 409);
  EXPECT_THAT(empty.status().message(), HasSubstr("no speakers are enrolled"));

  EXPECT_EQ(HttpStatusOf(api_->Enrol("other", "bob", {"bob-1"}).status()), 404);
  model_.task = "classify";
  auto kws = api_->Enrol("spk", "bob", {"bob-1"});
  ASSERT_FALSE(kws.ok());
  EXPECT_THAT(kws.status().message(), HasSubstr("classify model"));
  model_.task = "embed";

  for (const std::string& name : std::vector<std::string>{"", ".hidden", "a/b", "x y", std::string(65, 'a')}) {
    auto bad = api_->Enrol("spk", name, {"bob-1"});
    EXPECT_FALSE(bad.ok()) << "'" << name << "'";
    EXPECT_EQ(HttpStatusOf(bad.status()), 400);
  }
  EXPECT_EQ(HttpStatusOf(api_->Delete("spk", "nobody").status()), 404);
  EXPECT_EQ(HttpStatusOf(api_->Identify("spk", "bob-1", 0).status()), 400);
}

TEST_F(SpeakerApiTest, DeletingLeavesNoCopyInTheDatabaseFiles) {
  ASSERT_TRUE(api_->Enrol("spk", "odd", {"odd"}).ok());
  ASSERT_TRUE(api_->Enrol("spk", "bob", {"bob-1"}).ok());
  const std::vector<float> print = registry_->Get("spk", "odd")->embedding;
  const std::string needle(reinterpret_cast<const char*>(print.data()), print.size() * sizeof(float));
  auto everywhere = [&] { return FileBytes(path()) + FileBytes(path() + "-wal"); };
  ASSERT_NE(everywhere().find(needle), std::string::npos);  // it is there to begin with
  ASSERT_TRUE(api_->Delete("spk", "odd").ok());
  EXPECT_EQ(everywhere().find(needle), std::string::npos);
  EXPECT_EQ(registry_->Get("spk", "odd").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(registry_->Get("spk", "bob").ok());
}

}  // namespace
}  // namespace chorus::coordinator
