#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/models/model.h"

namespace chorus::models {
namespace {

using ::testing::HasSubstr;

class ZooTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooTest, MapsFeaturesToLogitsAndLearns) {
  config::ModelSpec spec;
  spec.name = GetParam();
  spec.width = 16;
  spec.hidden = 16;
  torch::manual_seed(0);
  auto model = CreateModel(spec, {98, 40, 5});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_GT(CountParameters(**model), 100);
  torch::Tensor x = torch::randn({4, 98, 40});
  torch::Tensor y = torch::tensor({0, 1, 2, 3}, torch::kInt64);
  EXPECT_EQ((*model)->forward(x).sizes(), (std::vector<int64_t>{4, 5}));
  // A few optimizer steps on one batch must reduce its loss: gradients flow
  // through every part of the model.
  torch::optim::Adam opt((*model)->parameters(), torch::optim::AdamOptions(1e-2));
  double first = 0, last = 0;
  for (int i = 0; i < 15; ++i) {
    opt.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy((*model)->forward(x), y);
    loss.backward();
    opt.step();
    (i == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, first * 0.7) << spec.name;
}

INSTANTIATE_TEST_SUITE_P(AllModels, ZooTest, ::testing::Values("vgg", "ds_cnn", "tc_resnet", "crnn"));

TEST(Zoo, UnknownNameAndBadShapesAreErrors) {
  config::ModelSpec spec;
  spec.name = "transformer";
  auto unknown = CreateModel(spec, {98, 40, 12});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown model 'transformer'"));

  spec.name = "vgg";
  auto one_class = CreateModel(spec, {98, 40, 1});
  ASSERT_FALSE(one_class.ok());
  EXPECT_THAT(one_class.status().message(), HasSubstr("at least 2 classes"));

  auto tiny = CreateModel(spec, {3, 3, 12});  // too small for three 2x2 pools
  ASSERT_FALSE(tiny.ok());
  EXPECT_THAT(tiny.status().message(), HasSubstr("cannot take input of 3 frames x 3 bins"));
}

TEST(Zoo, NamesListsEveryModel) {
  EXPECT_EQ(ModelNames().size(), 6u);
  for (const auto& name : ModelNames()) {
    config::ModelSpec spec;
    spec.name = name;
    EXPECT_TRUE(CreateModel(spec, {98, 40, 12}).ok()) << name;
  }
}

TEST(Zoo, EcapaLiteEmbedsInEvalAndScoresSpeakersInTraining) {
  config::ModelSpec spec;
  spec.name = "ecapa_lite";
  spec.width = 16;
  spec.embedding_dim = 24;
  auto model = CreateModel(spec, {98, 40, 7});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_TRUE(IsEmbeddingModel("ecapa_lite"));
  EXPECT_EQ((*model)->embedding_dim(), 24);
  const torch::Tensor x = torch::randn({3, 98, 40});
  (*model)->train();
  const torch::Tensor cosines = (*model)->forward(x);
  ASSERT_EQ(cosines.sizes(), (std::vector<int64_t>{3, 7}));  // one per training speaker
  EXPECT_LE(cosines.abs().max().item<float>(), 1.0f + 1e-5f);
  torch::NoGradGuard no_grad;
  (*model)->eval();
  EXPECT_EQ((*model)->forward(x).sizes(), (std::vector<int64_t>{3, 24}));
  // Any length works (attentive pooling over time).
  EXPECT_EQ((*model)->forward(torch::randn({1, 40, 40})).sizes(), (std::vector<int64_t>{1, 24}));
}

}  // namespace
}  // namespace chorus::models
