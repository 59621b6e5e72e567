// Graphs as pure state machines: a pipeline asks its detector, then its
// second model once per speech segment (the same audio, cropped), and stacks
// the answers; an ensemble asks every member for all labels and answers with
// their mean probabilities; a failed step fails the graph, naming it.
#include "coordinator/serving/graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/tasks/outputs.h"

namespace chorus::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

GraphSpec Pipeline() { return {"speech", GraphSpec::Kind::kPipeline, {"vad", "kws"}}; }
GraphSpec Ensemble() { return {"kws-ensemble", GraphSpec::Kind::kEnsemble, {"kws-a", "kws-b"}}; }

proto::InferRequest Header() {
  proto::InferRequest r;
  r.set_model("speech");
  r.set_token("t");
  r.set_input_frame(proto::INPUT_WAV);
  r.set_top_k(1);
  (*r.mutable_parameters())["threshold"] = 0.4;
  return r;
}

proto::InferReply Segments(std::vector<float> flat) {
  proto::InferReply r;
  r.set_code("OK");
  tasks::AddFloats(&r, "segments", flat, {static_cast<int64_t>(flat.size() / 2), 2});
  return r;
}

proto::InferReply Labels(std::vector<std::string> names, std::vector<float> scores) {
  proto::InferReply r;
  r.set_code("OK");
  tasks::AddBytes(&r, "labels", names);
  tasks::AddFloats(&r, "scores", scores, {static_cast<int64_t>(scores.size())});
  return r;
}

proto::InferReply Failed(const std::string& code, const std::string& error) {
  proto::InferReply r;
  r.set_code(code);
  r.set_error(error);
  return r;
}

TEST(Graph, APipelineAsksItsSecondModelOncePerSegmentOnTheCroppedAudio) {
  GraphRun run(Pipeline(), Header());
  auto first = run.Start();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].model(), "vad");
  EXPECT_EQ(first[0].input_frame(), proto::INPUT_WAV);  // the same input frame goes along
  EXPECT_EQ(first[0].parameters().at("threshold"), 0.4);  // the parameters are the detector's
  EXPECT_FALSE(run.done());
  auto next = run.OnAnswer(0, Segments({0.1f, 0.5f, 1.0f, 1.4f}));
  ASSERT_EQ(next.size(), 2u);
  for (const auto& r : next) {
    EXPECT_EQ(r.model(), "kws");
    EXPECT_TRUE(r.parameters().empty());
    EXPECT_EQ(r.input_frame(), proto::INPUT_WAV);
  }
  EXPECT_FLOAT_EQ(next[1].crop().start_s(), 1.0f);
  EXPECT_FLOAT_EQ(next[1].crop().end_s(), 1.4f);
  EXPECT_TRUE(run.OnAnswer(2, Labels({"up"}, {0.8f})).empty());
  EXPECT_FALSE(run.done());
  run.OnAnswer(1, Labels({"yes"}, {0.9f}));
  ASSERT_TRUE(run.done());
  const proto::InferReply reply = run.Reply();
  EXPECT_EQ(reply.code(), "OK");
  EXPECT_EQ(reply.model(), "speech");
  const proto::NamedTensor* segments = tasks::FindOutput(reply, "segments");
  const proto::NamedTensor* labels = tasks::FindOutput(reply, "labels");
  const proto::NamedTensor* scores = tasks::FindOutput(reply, "scores");
  ASSERT_TRUE(segments && labels && scores);
  EXPECT_THAT(segments->shape(), ElementsAre(2, 2));
  EXPECT_THAT(labels->shape(), ElementsAre(2, 1));  // a row per segment: each answer had one label
  EXPECT_THAT(labels->bytes(), ElementsAre("yes", "up"));  // in segment order, whatever the answers' order
  EXPECT_THAT(scores->fp32(), ElementsAre(0.9f, 0.8f));
}

TEST(Graph, APipelineWithoutSpeechAnswersWithNoSegments) {
  GraphRun run(Pipeline(), Header());
  run.Start();
  EXPECT_TRUE(run.OnAnswer(0, Segments({})).empty());
  ASSERT_TRUE(run.done());
  const proto::InferReply reply = run.Reply();
  EXPECT_EQ(reply.code(), "OK");
  EXPECT_THAT(tasks::FindOutput(reply, "segments")->shape(), ElementsAre(0, 2));
}

TEST(Graph, AFailedStepFailsTheGraphNamingIt) {
  GraphRun detector_fails(Pipeline(), Header());
  detector_fails.Start();
  detector_fails.OnAnswer(0, Failed("NOT_FOUND", "no worker serves model 'vad'"));
  ASSERT_TRUE(detector_fails.done());
  EXPECT_EQ(detector_fails.Reply().code(), "NOT_FOUND");
  EXPECT_THAT(detector_fails.Reply().error(), HasSubstr("pipeline speech, step vad: no worker serves"));

  GraphRun not_a_detector(Pipeline(), Header());
  not_a_detector.Start();
  not_a_detector.OnAnswer(0, Labels({"yes"}, {1.0f}));
  ASSERT_TRUE(not_a_detector.done());
  EXPECT_THAT(not_a_detector.Reply().error(), HasSubstr("must be a voice-activity (detect) model"));

  GraphRun second_fails(Pipeline(), Header());
  second_fails.Start();
  second_fails.OnAnswer(0, Segments({0.0f, 1.0f, 2.0f, 3.0f}));
  second_fails.OnAnswer(1, Failed("DEADLINE_EXCEEDED", "late"));
  ASSERT_TRUE(second_fails.done());  // at once, not after the other segment
  EXPECT_EQ(second_fails.Reply().code(), "DEADLINE_EXCEEDED");
  EXPECT_THAT(second_fails.Reply().error(), HasSubstr("step kws: late"));
}

TEST(Graph, AnEnsembleAnswersWithItsMembersMeanProbabilities) {
  proto::InferRequest header = Header();
  header.clear_parameters();
  header.set_top_k(2);
  GraphRun run(Ensemble(), header);
  auto asked = run.Start();
  ASSERT_EQ(asked.size(), 2u);
  EXPECT_EQ(asked[0].model(), "kws-a");
  EXPECT_EQ(asked[1].model(), "kws-b");
  EXPECT_GT(asked[0].top_k(), 1000);  // every label, to average
  run.OnAnswer(1, Labels({"no", "yes", "up"}, {0.8f, 0.15f, 0.05f}));
  EXPECT_FALSE(run.done());
  run.OnAnswer(0, Labels({"yes", "no", "up"}, {0.6f, 0.3f, 0.1f}));
  ASSERT_TRUE(run.done());
  const proto::InferReply reply = run.Reply();
  ASSERT_EQ(reply.code(), "OK");
  EXPECT_THAT(tasks::FindOutput(reply, "labels")->bytes(), ElementsAre("no", "yes"));
  const auto& scores = tasks::FindOutput(reply, "scores")->fp32();
  ASSERT_EQ(scores.size(), 2);
  EXPECT_NEAR(scores[0], 0.55, 1e-6);
  EXPECT_NEAR(scores[1], 0.375, 1e-6);
}

TEST(Graph, AnEnsembleOfDifferentLabelsOrOfNonClassifiersIsRefused) {
  GraphRun labels(Ensemble(), Header());
  labels.Start();
  labels.OnAnswer(0, Labels({"yes", "no"}, {0.5f, 0.5f}));
  labels.OnAnswer(1, Labels({"yes", "up"}, {0.5f, 0.5f}));
  EXPECT_EQ(labels.Reply().code(), "INVALID_ARGUMENT");
  EXPECT_THAT(labels.Reply().error(), HasSubstr("labels differ"));
  GraphRun detector(Ensemble(), Header());
  detector.Start();
  detector.OnAnswer(0, Segments({0.0f, 1.0f}));
  detector.OnAnswer(1, Labels({"yes"}, {1.0f}));
  EXPECT_THAT(detector.Reply().error(), HasSubstr("must be classifiers"));
}

TEST(Graph, SpecsAreChecked) {
  EXPECT_TRUE(Pipeline().Validate().ok());
  EXPECT_TRUE(Ensemble().Validate().ok());
  EXPECT_THAT(GraphSpec({"p", GraphSpec::Kind::kPipeline, {"a", "b", "c"}}).Validate().message(),
              HasSubstr("two models"));
  EXPECT_THAT(GraphSpec({"e", GraphSpec::Kind::kEnsemble, {"a"}}).Validate().message(), HasSubstr("at least two"));
  EXPECT_THAT(GraphSpec({"e", GraphSpec::Kind::kEnsemble, {"a", "e"}}).Validate().message(), HasSubstr("itself"));
  EXPECT_THAT(GraphSpec({"e", GraphSpec::Kind::kEnsemble, {"a", "a"}}).Validate().message(), HasSubstr("differ"));
}

}  // namespace
}  // namespace chorus::coordinator
