#include "common/models/model_bundle.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/util/fs.h"

namespace chorus::models {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class ModelBundleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = fs::temp_directory_path() / ("chorus_bundle_test_" + std::to_string(::getpid()));
    fs::remove_all(repo_);
    meta_.name = "kws";
    meta_.model.name = "tc_resnet";
    meta_.model.width = 16;
    meta_.shape = {98, 40, 3};
    meta_.labels = {"_silence_", "_unknown_", "yes"};
    meta_.metrics["test_accuracy"] = 0.5;
    torch::manual_seed(3);
    model_ = CreateModel(meta_.model, meta_.shape).value();
    model_->eval();
  }
  void TearDown() override { fs::remove_all(repo_); }

  fs::path repo_;
  ModelMetadata meta_;
  ModelPtr model_;
};

TEST_F(ModelBundleTest, ExportThenLoadGivesTheSameModel) {
  auto dir = ExportModel(*model_, meta_, repo_.string());
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  EXPECT_EQ(fs::path(*dir), repo_ / "kws" / "1");
  auto loaded = LoadModel(*dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->metadata.labels, meta_.labels);
  EXPECT_EQ(loaded->metadata.version, 1);
  EXPECT_EQ(loaded->metadata.features.n_mels, 40);
  EXPECT_DOUBLE_EQ(loaded->metadata.metrics["test_accuracy"].get<double>(), 0.5);
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({2, 98, 40});
  EXPECT_TRUE(torch::equal(model_->forward(x), loaded->model->forward(x)));
}

TEST_F(ModelBundleTest, VersionsIncreaseAndExistingVersionIsRefused) {
  ASSERT_TRUE(ExportModel(*model_, meta_, repo_.string()).ok());
  auto second = ExportModel(*model_, meta_, repo_.string());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(fs::path(*second).filename(), "2");
  meta_.version = 2;
  auto again = ExportModel(*model_, meta_, repo_.string());
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  // No temporary folders are left behind.
  for (const auto& e : fs::directory_iterator(repo_ / "kws")) EXPECT_NE(e.path().filename().string()[0], '.');
}

TEST_F(ModelBundleTest, DamagedBundlesAreErrorsNamingTheFile) {
  auto dir = ExportModel(*model_, meta_, repo_.string()).value();
  const std::string json = (fs::path(dir) / "model.json").string();
  const std::string weights = (fs::path(dir) / "model.pt").string();
  const std::string good_json = ReadFile(json).value();

  ASSERT_TRUE(AtomicWriteFile(weights, "not a torch archive").ok());
  auto corrupt = LoadModel(dir);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_THAT(corrupt.status().message(), HasSubstr("model.pt"));

  ASSERT_TRUE(AtomicWriteFile(json, "{ nope").ok());
  auto bad_json = LoadModel(dir);
  ASSERT_FALSE(bad_json.ok());
  EXPECT_THAT(bad_json.status().message(), HasSubstr("model.json: not valid JSON"));

  // Weights of another architecture do not load into this one.
  nlohmann::json j = nlohmann::json::parse(good_json);
  j["model"]["name"] = "ds_cnn";
  ASSERT_TRUE(AtomicWriteFile(json, j.dump()).ok());
  auto other = ExportModel(*model_, meta_, (repo_ / "b").string()).value();
  fs::copy_file(fs::path(other) / "model.pt", weights, fs::copy_options::overwrite_existing);
  auto mismatch = LoadModel(dir);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_THAT(mismatch.status().message(), HasSubstr("cannot load weights for 'ds_cnn'"));

  j = nlohmann::json::parse(good_json);
  j["labels"] = {"one"};
  ASSERT_TRUE(AtomicWriteFile(json, j.dump()).ok());
  EXPECT_THAT(LoadModel(dir).status().message(), HasSubstr("1 labels but num_classes is 3"));

  EXPECT_EQ(LoadModel((repo_ / "none").string()).status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace chorus::models
