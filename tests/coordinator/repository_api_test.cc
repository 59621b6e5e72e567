#include "coordinator/serving/repository_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

namespace chorus::coordinator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using json = nlohmann::json;

// A repository folder, and a fake coordinator that records what it is asked.
class RepositoryApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("chorus_repo_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    for (const char* dir : {"kws/1", "kws/2", "vad/3", "vad/notes", "empty/1"}) fs::create_directories(root_ / dir);
    for (const char* dir : {"kws/1", "kws/2", "vad/3"}) std::ofstream(root_ / dir / "model.json") << "{}";
    api_ = std::make_unique<RepositoryApi>(root_.string(), [this](const proto::Request& r) -> Result<proto::Reply> {
      sent_.push_back(r);
      proto::Reply reply;
      if (r.has_deploy()) *reply.mutable_deployment() = r.deploy().deployment();
      if (r.kind_case() == proto::Request::kUndeploy && r.undeploy() != "kws")
        return NotFound("no deployment named '" + r.undeploy() + "'");
      if (r.kind_case() == proto::Request::kServing) *reply.mutable_serving() = status_;
      return reply;
    });
  }
  void TearDown() override { fs::remove_all(root_); }

  void Deployed(const std::string& name, const std::string& dir, int workers, int min_workers = 1) {
    proto::ServingModel* m = status_.add_models();
    m->mutable_deployment()->set_name(name);
    m->mutable_deployment()->set_model_dir(dir);
    m->mutable_deployment()->mutable_policy()->set_min_workers(min_workers);
    m->mutable_deployment()->mutable_policy()->set_max_workers(5);
    m->set_workers(workers);
    m->set_desired(min_workers);
  }

  fs::path root_;
  proto::ServingStatus status_;
  std::vector<proto::Request> sent_;
  std::unique_ptr<RepositoryApi> api_;
};

TEST_F(RepositoryApiTest, IndexListsDeploymentsThenTheModelsNotLoaded) {
  Deployed("kws", (root_ / "kws/1").string(), 2);
  auto index = api_->Index(false);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  ASSERT_EQ(index->size(), 2u) << index->dump();  // "empty" has no model.json: not a model
  EXPECT_EQ((*index)[0], (json{{"name", "kws"}, {"version", "1"}, {"state", "READY"}}));
  EXPECT_EQ((*index)[1],
            (json{{"name", "vad"}, {"version", "3"}, {"state", "UNAVAILABLE"}, {"reason", "not loaded"}}));
  auto ready = api_->Index(true);
  ASSERT_EQ(ready->size(), 1u);
  EXPECT_EQ((*ready)[0]["name"], "kws");
}

TEST_F(RepositoryApiTest, LoadDeploysTheHighestVersionOrTheOneAskedFor) {
  auto loaded = api_->Load("kws", json::object());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)["version"], "2");
  ASSERT_TRUE(sent_.back().has_deploy());
  EXPECT_EQ(sent_.back().deploy().deployment().model_dir(), (root_ / "kws/2").string());
  EXPECT_EQ(sent_.back().deploy().deployment().policy().min_workers(), 1);
  ASSERT_TRUE(api_->Load("kws", json{{"version", 1}, {"min_workers", 0}, {"max_workers", 3}}).ok());
  EXPECT_EQ(sent_.back().deploy().deployment().model_dir(), (root_ / "kws/1").string());
  EXPECT_EQ(sent_.back().deploy().deployment().policy().min_workers(), 0);
  EXPECT_EQ(sent_.back().deploy().deployment().policy().max_workers(), 3);
}

TEST_F(RepositoryApiTest, LoadingAnotherVersionOfADeployedModelKeepsItsPolicy) {
  Deployed("kws", (root_ / "kws/1").string(), 1, /*min_workers=*/2);
  ASSERT_TRUE(api_->Load("kws", json::object()).ok());
  const auto& d = sent_.back().deploy().deployment();
  EXPECT_EQ(d.model_dir(), (root_ / "kws/2").string());
  EXPECT_EQ(d.policy().min_workers(), 2);
  EXPECT_EQ(d.policy().max_workers(), 5);
}

TEST_F(RepositoryApiTest, BadLoadsAreRefusedNamingWhy) {
  EXPECT_EQ(api_->Load("nope", json::object()).status().code(), StatusCode::kNotFound);
  auto v9 = api_->Load("kws", json{{"version", 9}});
  EXPECT_EQ(v9.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(v9.status().message(), HasSubstr("no version 9"));
  EXPECT_EQ(api_->Load("kws", json{{"version", "2"}}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(api_->Load("..", json::object()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(api_->Load("kws", json::array()).status().code(), StatusCode::kInvalidArgument);
  RepositoryApi none("", [](const proto::Request&) -> Result<proto::Reply> { return proto::Reply(); });
  EXPECT_THAT(none.Load("kws", json::object()).status().message(), HasSubstr("no model repository"));
  EXPECT_TRUE(sent_.empty());  // refused before the coordinator is asked anything
}

TEST_F(RepositoryApiTest, UnloadUndeploysAndPassesTheRefusalOn) {
  ASSERT_TRUE(api_->Unload("kws").ok());
  EXPECT_EQ(sent_.back().undeploy(), "kws");
  EXPECT_EQ(api_->Unload("vad").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace chorus::coordinator
