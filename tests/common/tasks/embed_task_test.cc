// The embed task: the additive angular margin loss, decisions, evaluation
// gathered by example index (as across ranks), the tuned threshold, audio
// checks and decoding into a normalised embedding.
#include "common/tasks/embed_task.h"

#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/tasks/outputs.h"

namespace chorus::tasks {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Task> Embed(nlohmann::json options = {{"embedding_dim", 2}}) {
  auto t = Task::Create("embed", {"a", "b", "c"}, options);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

TEST(EmbedTask, OptionsAreValidated) {
  EXPECT_FALSE(Task::Create("embed", {"a", "b"}, nlohmann::json::object()).ok());  // no embedding_dim
  EXPECT_FALSE(Task::Create("embed", {"a"}, {{"embedding_dim", 4}}).ok());         // one speaker
  auto bad = Task::Create("embed", {"a", "b"}, {{"embedding_dim", 4}, {"margin", 2.0}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("margin"));
  auto unknown = Task::Create("embed", {"a", "b"}, {{"embedding_dim", 4}, {"margn", 0.1}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("margn"));
  auto task = Embed();
  EXPECT_EQ(task->output_kind(), OutputKind::kEmbedding);
  EXPECT_EQ(task->num_outputs(), 3);
  EXPECT_EQ(task->Outputs().at(0).name, "embedding");
  EXPECT_EQ(task->Outputs().at(0).shape, std::vector<int64_t>{2});
}

TEST(EmbedTask, TheMarginMakesTheLossHarderThanPlainSoftmax) {
  auto task = Embed({{"embedding_dim", 2}, {"margin", 0.3}, {"scale", 10}});
  auto plain = Embed({{"embedding_dim", 2}, {"margin", 0.0}, {"scale", 10}});
  Targets t;
  t.labels = torch::tensor({0, 2}, torch::kInt64);
  const at::Tensor cosines = torch::tensor({{0.8f, 0.1f, -0.2f}, {0.0f, 0.3f, 0.7f}});
  const double with_margin = task->Loss(cosines, t, 0).item<double>();
  const double without = plain->Loss(cosines, t, 0).item<double>();
  EXPECT_GT(with_margin, without);
  // Without a margin it is cross-entropy over scale * cosine.
  const double expected = torch::nn::functional::cross_entropy(cosines * 10, t.labels).item<double>();
  EXPECT_NEAR(without, expected, 1e-5);
  // By hand for the first row: cos(acos(0.8) + 0.3) for the target.
  const double phi = std::cos(std::acos(0.8) + 0.3);
  const double row0 = -(10 * phi) + std::log(std::exp(10 * phi) + std::exp(1.0) + std::exp(-2.0));
  const double row1_phi = std::cos(std::acos(0.7) + 0.3);
  const double row1 = -(10 * row1_phi) + std::log(std::exp(0.0) + std::exp(3.0) + std::exp(10 * row1_phi));
  EXPECT_NEAR(with_margin, (row0 + row1) / 2, 1e-4);
  // Gradients flow to the cosines.
  at::Tensor c = cosines.clone().requires_grad_(true);
  task->Loss(c, t, 0).backward();
  EXPECT_LT(c.grad()[0][0].item<float>(), 0);  // raising the target cosine lowers the loss
  const at::Tensor d = task->Decisions(cosines, t);
  EXPECT_EQ(d[0].item<double>(), 2);
  EXPECT_EQ(d[1].item<double>(), 2);
}

TEST(EmbedTask, EvaluationGathersRowsByIndexAcrossRanks) {
  auto task = Embed({{"embedding_dim", 2}, {"enrol_utterances", 1}});
  std::vector<data::Example> examples;
  for (int i = 0; i < 4; ++i) examples.push_back({"f" + std::to_string(i), 0, i < 2 ? "x" : "y", {}});
  // "Rank 0" saw examples 0 and 2, "rank 1" examples 1 and 3.
  auto r0 = task->NewEvaluation(examples, {});
  auto r1 = task->NewEvaluation(examples, {});
  Targets t0, t1;
  t0.index = torch::tensor({0, 2}, torch::kInt64);
  t1.index = torch::tensor({1, 3}, torch::kInt64);
  r0->Add(torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}}), t0);
  r1->Add(torch::tensor({{0.9f, 0.1f}, {0.1f, 0.9f}}), t1);
  const at::Tensor sum = r0->Counts() + r1->Counts();
  r0->SetCounts(sum);
  const TaskReport report = r0->Report();
  EXPECT_EQ(report.task, "embed");
  EXPECT_EQ(report.count, 4);
  EXPECT_EQ(report.details.at("enrolled_speakers").get<int64_t>(), 2);
  EXPECT_DOUBLE_EQ(report.details.at("eer").get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(report.score, 1.0);
  // One rank alone has holes: its x test utterance is all zeros and scores 0.
  const TaskReport partial = r1->Report();
  EXPECT_GT(partial.details.at("eer").get<double>(), 0.0);

  // Tune takes the validation EER threshold, and the export records it.
  task->Tune(report);
  EXPECT_DOUBLE_EQ(task->Options().at("threshold").get<double>(), report.details.at("eer_threshold").get<double>());
  EXPECT_DOUBLE_EQ(task->ServedParameters().at("threshold").get<double>(),
                   report.details.at("eer_threshold").get<double>());
}

TEST(EmbedTask, TooShortOrSilentAudioIsRefusedWithTheReason) {
  auto task = Embed({{"embedding_dim", 2}, {"min_seconds", 0.25}});
  std::vector<float> short_audio(1000, 0.1f);  // 125 ms at 8 kHz
  Status s = task->CheckAudio(short_audio, 8000);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("125 ms"));
  EXPECT_THAT(s.message(), HasSubstr("at least 250 ms"));
  std::vector<float> silence(8000, 0.0f);
  s = task->CheckAudio(silence, 8000);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("silent"));
  std::vector<float> tone(8000);
  for (size_t i = 0; i < tone.size(); ++i) tone[i] = 0.1f * std::sin(0.3f * i);
  EXPECT_TRUE(task->CheckAudio(tone, 8000).ok());
}

TEST(EmbedTask, DecodeNormalisesTheEmbedding) {
  auto task = Embed();
  proto::InferRequest request;
  proto::InferReply reply;
  ASSERT_TRUE(task->Decode(torch::tensor({3.0f, 4.0f}), request, &reply).ok());
  const proto::NamedTensor* e = FindOutput(reply, "embedding");
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->fp32_size(), 2);
  EXPECT_NEAR(e->fp32(0), 0.6f, 1e-6);
  EXPECT_NEAR(e->fp32(1), 0.8f, 1e-6);
  (*request.mutable_parameters())["threshold"] = 0.5;
  proto::InferReply refused;
  Status s = task->Decode(torch::tensor({3.0f, 4.0f}), request, &refused);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("threshold"));
}

}  // namespace
}  // namespace chorus::tasks
