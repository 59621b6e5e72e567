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

// A streaming pipeline's chunk (the client's header) and its steps' answers.
proto::InferRequest Chunk(bool start, bool end) {
  proto::InferRequest r = Header();
  r.set_input_frame(proto::INPUT_PCM);
  r.mutable_sequence()->set_id("s1");
  r.mutable_sequence()->set_start(start);
  r.mutable_sequence()->set_end(end);
  (*r.mutable_parameters())["kws.threshold"] = 0.2;
  (*r.mutable_parameters())["other.threshold"] = 0.9;
  return r;
}

proto::InferReply Events(std::vector<float> flat) {
  proto::InferReply r;
  r.set_code("OK");
  tasks::AddFloats(&r, "speech_probability", {0.1f, 0.9f}, {2});
  tasks::AddFloats(&r, "events", flat, {static_cast<int64_t>(flat.size() / 2), 2});
  return r;
}

proto::InferReply Keywords(std::vector<std::string> words, std::vector<float> times) {
  proto::InferReply r;
  r.set_code("OK");
  tasks::AddBytes(&r, "keywords", words);
  tasks::AddFloats(&r, "keyword_times", times, {static_cast<int64_t>(times.size())});
  tasks::AddFloats(&r, "keyword_scores", std::vector<float>(times.size(), 0.9f), {static_cast<int64_t>(times.size())});
  return r;
}

std::vector<std::string> Words(const proto::InferReply& r) {
  const proto::NamedTensor* t = tasks::FindOutput(r, "keywords");
  return t ? std::vector<std::string>(t->bytes().begin(), t->bytes().end()) : std::vector<std::string>{"(none)"};
}

TEST(Graph, AStreamingPipelineSendsEachChunkToBothStepsAndKeepsOnlyKeywordsHeardInSpeech) {
  GraphStreamState state;
  GraphRun first(Pipeline(), Chunk(true, false));
  auto asked = first.Start();
  ASSERT_EQ(asked.size(), 2u);  // both steps at once, each in its own session
  EXPECT_EQ(asked[0].model(), "vad");
  EXPECT_EQ(asked[1].model(), "kws");
  for (const auto& r : asked) {
    EXPECT_EQ(r.sequence().id(), "speech/s1");
    EXPECT_TRUE(r.sequence().start());
    EXPECT_EQ(r.input_frame(), proto::INPUT_PCM);
  }
  // Unnamed parameters are the detector's; kws.threshold is the spotter's threshold; other steps' are dropped.
  EXPECT_EQ(asked[0].parameters().size(), 1u);
  EXPECT_EQ(asked[0].parameters().at("threshold"), 0.4);
  EXPECT_EQ(asked[1].parameters().size(), 1u);
  EXPECT_EQ(asked[1].parameters().at("threshold"), 0.2);
  first.OnAnswer(1, Keywords({"no", "yes"}, {0.4f, 1.2f}));
  EXPECT_FALSE(first.done());
  first.OnAnswer(0, Events({1.0f, 1.0f}));  // speech from 1.0 s
  ASSERT_TRUE(first.done());
  proto::InferReply a = first.StreamReply(1.0, &state);
  ASSERT_EQ(a.code(), "OK") << a.error();
  EXPECT_THAT(Words(a), ElementsAre("yes"));  // "no" at 0.4 s came before any speech
  ASSERT_NE(tasks::FindOutput(a, "speech_probability"), nullptr);  // the detector's outputs go along
  EXPECT_EQ(tasks::FindOutput(a, "events")->fp32_size(), 2);
  EXPECT_TRUE(state.in_speech);

  // The next chunk: speech ends at 2.0 s; a keyword at 2.5 s heard part of it
  // (its 1 s window reaches back to 1.5 s), one at 3.5 s did not.
  GraphRun second(Pipeline(), Chunk(false, true));
  asked = second.Start();
  EXPECT_FALSE(asked[0].sequence().start());
  EXPECT_TRUE(asked[1].sequence().end());
  second.OnAnswer(0, Events({2.0f, 0.0f}));
  second.OnAnswer(1, Keywords({"up", "go"}, {2.5f, 3.5f}));
  proto::InferReply b = second.StreamReply(1.0, &state);
  EXPECT_THAT(Words(b), ElementsAre("up"));
  EXPECT_FALSE(state.in_speech);
  EXPECT_FLOAT_EQ(state.speech_end_s, 2.0f);
}

TEST(Graph, AStreamingPipelineFailsNamingItsStepOrAFirstStepThatIsNoDetector) {
  GraphStreamState state;
  GraphRun fails(Pipeline(), Chunk(true, false));
  fails.Start();
  fails.OnAnswer(1, Failed("NOT_FOUND", "session expired"));
  ASSERT_TRUE(fails.done());
  EXPECT_THAT(fails.StreamReply(1.0, &state).error(), HasSubstr("pipeline speech, step kws: session expired"));
  GraphRun no_events(Pipeline(), Chunk(true, false));
  no_events.Start();
  no_events.OnAnswer(0, Labels({"yes"}, {1.0f}));
  no_events.OnAnswer(1, Keywords({}, {}));
  EXPECT_THAT(no_events.StreamReply(1.0, &state).error(), HasSubstr("must be a voice-activity (detect) model"));
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
