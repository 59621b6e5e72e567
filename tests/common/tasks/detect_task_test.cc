// The detect task: per-frame targets from speech segments, padding and the
// mask, a loss that ignores padding, decoding into probabilities and
// segments (with request overrides), evaluation and the tuned threshold.
#include "common/tasks/detect_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/tasks/outputs.h"

namespace chorus::tasks {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Task> Detect(const nlohmann::json& options = nlohmann::json::object()) {
  auto t = Task::Create("detect", {}, options);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

TEST(DetectTask, TargetsFollowTheSegmentsOnTheFrameGrid) {
  auto task = Detect();
  data::Example ex;
  ex.speech = {{0.10, 0.20}, {0.50, 0.55}};
  // 25 ms windows every 10 ms: frame i is centred at offset + i * 0.01 + 0.0125.
  at::Tensor t = task->ExampleTargets(ex, 0.0, 60, 0.010, 0.025);
  ASSERT_EQ(t.size(0), 60);
  for (int i = 0; i < 60; ++i) {
    const double c = i * 0.01 + 0.0125;
    const bool speech = (c >= 0.10 && c < 0.20) || (c >= 0.50 && c < 0.55);
    EXPECT_EQ(t[i].item<float>(), speech ? 1.0f : 0.0f) << "frame " << i;
  }
  // A crop starting 0.4 s in sees the second segment at its start.
  at::Tensor cropped = task->ExampleTargets(ex, 0.4, 20, 0.010, 0.025);
  EXPECT_EQ(cropped[9].item<float>(), 1.0f);
  EXPECT_EQ(cropped[2].item<float>(), 0.0f);
}

TEST(DetectTask, BatchesArePaddedWithAMaskThatTheLossAndDecisionsRespect) {
  auto task = Detect();
  Targets t = task->Collate({torch::ones({3}), torch::zeros({5})}, 5, false);
  EXPECT_TRUE(torch::equal(t.mask, torch::tensor({{1, 1, 1, 0, 0}, {1, 1, 1, 1, 1}}, torch::kFloat32)));
  EXPECT_EQ(t.size(), 2);
  // Logits right on every real frame, wrong on the padding: the padding costs nothing.
  at::Tensor logits = torch::tensor({{9, 9, 9, 9, 9}, {-9, -9, -9, -9, -9}}, torch::kFloat32);
  EXPECT_LT(task->Loss(logits, t, 0).item<float>(), 1e-3);
  at::Tensor d = task->Decisions(logits, t);
  EXPECT_EQ(d[0].item<double>(), 8.0);
  EXPECT_EQ(d[1].item<double>(), 8.0);
}

TEST(DetectTask, DecodesProbabilitiesAndSegmentsWithRequestOverrides) {
  auto task = Detect();
  at::Tensor row = torch::full({140}, -5.0f);
  row.narrow(0, 50, 40).fill_(5.0f);  // 0.5 s .. 0.9 s
  proto::InferRequest request;
  proto::InferReply reply;
  ASSERT_TRUE(task->Decode(row, request, &reply).ok());
  const proto::NamedTensor* p = FindOutput(reply, "speech_probability");
  const proto::NamedTensor* s = FindOutput(reply, "segments");
  ASSERT_TRUE(p && s);
  EXPECT_EQ(p->fp32_size(), 140);
  EXPECT_NEAR(p->fp32(60), 1.0 / (1.0 + std::exp(-5.0)), 1e-6);
  ASSERT_EQ(s->fp32_size(), 2);
  EXPECT_NEAR(s->fp32(0), 0.47, 1e-6);
  EXPECT_NEAR(s->fp32(1), 0.93, 1e-6);
  EXPECT_EQ(s->shape(0), 1);
  EXPECT_EQ(s->shape(1), 2);

  (*request.mutable_parameters())["min_speech_ms"] = 500;  // now too short to count
  proto::InferReply shorter;
  ASSERT_TRUE(task->Decode(row, request, &shorter).ok());
  EXPECT_EQ(FindOutput(shorter, "segments")->fp32_size(), 0);

  proto::InferRequest bad;
  (*bad.mutable_parameters())["treshold"] = 0.3;
  proto::InferReply ignored;
  EXPECT_THAT(task->Decode(row, bad, &ignored).message(), HasSubstr("treshold"));
}

TEST(DetectTask, EvaluationReportsAndTuneTakesTheBestThreshold) {
  auto task = Detect();
  // Speech frames score 0.7, silence 0.2 and 0.6: the best threshold lies above 0.6.
  at::Tensor probs = torch::tensor({{0.7f, 0.7f, 0.6f, 0.2f, 0.6f, 0.2f}});
  at::Tensor logits = torch::log(probs / (1 - probs));
  Targets t = task->Collate({torch::tensor({1.0f, 1.0f, 0.0f, 0.0f, 0.0f, 0.0f})}, 6, false);
  auto evaluation = task->NewEvaluation({}, {});
  evaluation->Add(logits, t);
  evaluation->SetCounts(evaluation->Counts() * 2);  // as if a second rank saw the same
  TaskReport r = evaluation->Report();
  EXPECT_EQ(r.score_name, "roc_auc");
  EXPECT_DOUBLE_EQ(r.score, 1.0);
  EXPECT_EQ(r.count, 2);
  EXPECT_EQ(r.details["frames"].get<int64_t>(), 12);
  EXPECT_LT(r.details["f1"].get<double>(), 1.0);  // at 0.5 the 0.6 frames are false alarms
  EXPECT_DOUBLE_EQ(r.details["best_f1"].get<double>(), 1.0);
  task->Tune(r);
  const double tuned = task->Options()["threshold"].get<double>();
  EXPECT_GT(tuned, 0.6);
  EXPECT_LE(tuned, 0.7);
}

TEST(Tasks, UnknownTasksAndBadOptionsAreClearErrors) {
  EXPECT_THAT(Task::Create("segment", {}).status().message(), HasSubstr("unknown task 'segment'"));
  EXPECT_THAT(Task::Create("embed", {}).status().message(), HasSubstr("at least 2 training speakers"));
  EXPECT_THAT(Task::Create("classify", {"only"}).status().message(), HasSubstr("at least 2 classes"));
  EXPECT_THAT(Task::Create("detect", {}, {{"threshold", 2}}).status().message(), HasSubstr("threshold"));
}

}  // namespace
}  // namespace chorus::tasks
