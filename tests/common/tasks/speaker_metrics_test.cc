#include "common/tasks/speaker_metrics.h"

#include <cmath>

#include <gtest/gtest.h>

namespace chorus::tasks {
namespace {

std::vector<ScoredTrial> Trials(const std::vector<double>& targets, const std::vector<double>& nontargets) {
  std::vector<ScoredTrial> out;
  for (double s : targets) out.push_back({s, true});
  for (double s : nontargets) out.push_back({s, false});
  return out;
}

TEST(SpeakerMetrics, SeparatedScoresHaveNoErrors) {
  auto r = ComputeErrorRates(Trials({0.9, 0.8, 0.7}, {0.1, 0.2, 0.3, 0.4}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->eer, 0.0);
  EXPECT_DOUBLE_EQ(r->min_dcf, 0.0);
  // The EER threshold separates the two sets.
  EXPECT_GT(r->eer_threshold, 0.4);
  EXPECT_LE(r->eer_threshold, 0.7);
  EXPECT_EQ(r->targets, 3);
  EXPECT_EQ(r->nontargets, 4);
}

TEST(SpeakerMetrics, InterleavedScoresGiveTheCrossingPoint) {
  // Targets 0.6..0.9 step 0.1 plus 0.15; non-targets 0.1..0.4 plus 0.65:
  // one error on each side out of five: false accepts = misses = 20%.
  auto r = ComputeErrorRates(Trials({0.9, 0.8, 0.7, 0.6, 0.15}, {0.1, 0.2, 0.3, 0.4, 0.65}));
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->eer, 0.2, 1e-9);
  // Reversed scores: everything wrong.
  auto worst = ComputeErrorRates(Trials({0.1, 0.2}, {0.8, 0.9}));
  ASSERT_TRUE(worst.ok());
  EXPECT_NEAR(worst->eer, 1.0, 1e-9);
}

TEST(SpeakerMetrics, MinDcfWeighsFalseAcceptsAtALowTargetPrior) {
  // 100 targets, 100 non-targets; one non-target scores above every target.
  std::vector<double> targets, nontargets;
  for (int i = 0; i < 100; ++i) targets.push_back(0.5 + 0.004 * i);
  for (int i = 0; i < 99; ++i) nontargets.push_back(0.1 + 0.003 * i);
  nontargets.push_back(0.99);
  auto r = ComputeErrorRates(Trials(targets, nontargets), 0.01);
  ASSERT_TRUE(r.ok());
  // Accepting all targets costs 0.99 * 1% false accepts / 0.01 = 0.99; rejecting everything
  // costs 1; the minimum is 0.99.
  EXPECT_NEAR(r->min_dcf, 0.99, 1e-9);
  EXPECT_NEAR(r->eer, 0.01, 1e-2);
}

TEST(SpeakerMetrics, ThresholdAtAFalseAcceptRate) {
  auto t = ThresholdAtFalseAcceptRate(Trials({0.9, 0.8}, {0.1, 0.2, 0.3, 0.85}), 0.25);
  ASSERT_TRUE(t.ok());
  EXPECT_DOUBLE_EQ(*t, 0.8);  // accepting >= 0.8 lets one non-target in of four
}

TEST(SpeakerMetrics, NeedsBothKindsOfTrials) {
  EXPECT_FALSE(ComputeErrorRates(Trials({0.5}, {})).ok());
  EXPECT_FALSE(ComputeErrorRates(Trials({}, {0.5})).ok());
  EXPECT_FALSE(ComputeErrorRates(Trials({NAN}, {0.5})).ok());
}

TEST(SpeakerMetrics, EnrolmentIsTheNormalisedMeanOfNormalisedEmbeddings) {
  auto e = EnrolmentEmbedding({{2, 0}, {0, 10}});
  ASSERT_TRUE(e.ok());
  EXPECT_NEAR((*e)[0], std::sqrt(0.5), 1e-6);
  EXPECT_NEAR((*e)[1], std::sqrt(0.5), 1e-6);
  EXPECT_FALSE(EnrolmentEmbedding({}).ok());
  EXPECT_FALSE(EnrolmentEmbedding({{1, 0}, {1, 0, 0}}).ok());
  EXPECT_NEAR(Cosine({1, 0}, {0, 1}), 0.0, 1e-12);
  EXPECT_NEAR(Cosine({1, 1}, {2, 2}), 1.0, 1e-12);
  EXPECT_EQ(Cosine({0, 0}, {1, 1}), 0.0);
}

TEST(SpeakerMetrics, EvaluationEnrolsTheFirstUtterancesAndTestsTheRest) {
  // Three speakers along three axes with a little noise: perfect verification and identification.
  std::vector<Embedding> e;
  std::vector<std::string> who;
  for (int s = 0; s < 3; ++s)
    for (int u = 0; u < 7; ++u) {
      Embedding v(3, 0.05f * static_cast<float>(u % 3));
      v[s] = 1;
      e.push_back(v);
      who.push_back("s" + std::to_string(s));
    }
  SpeakerEvalOptions o;
  o.enrol = 5;
  auto r = EvaluateSpeakers(e, who, {}, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->speakers, 3);
  EXPECT_EQ(r->tests, 6);             // 2 per speaker
  EXPECT_EQ(r->rates.targets, 6);     // each test against its own speaker
  EXPECT_EQ(r->rates.nontargets, 12); // and against the two others
  EXPECT_DOUBLE_EQ(r->rates.eer, 0.0);
  EXPECT_DOUBLE_EQ(r->top1, 1.0);

  // Speaker 2's test utterances look like speaker 0: identification and EER suffer.
  e[5 + 14] = e[0];
  e[6 + 14] = e[1];
  r = EvaluateSpeakers(e, who, {}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->top1, 4.0 / 6.0, 1e-9);
  EXPECT_GT(r->rates.eer, 0.1);
  EXPECT_EQ(r->ToJson().at("identification_top1").get<double>(), r->top1);
  EXPECT_FALSE(r->ToJson().contains("false_accept_rate"));

  // At a decision threshold of 0.9: the two look-alike tests of speaker 2 are
  // accepted as speaker 0 (false accepts) and rejected as themselves (misses).
  o.threshold = 0.9;
  r = EvaluateSpeakers(e, who, {}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->false_accept_rate, 2.0 / 12.0, 1e-9);
  EXPECT_NEAR(r->miss_rate, 2.0 / 6.0, 1e-9);
  EXPECT_EQ(r->ToJson().at("threshold").get<double>(), 0.9);
}

TEST(SpeakerMetrics, ExplicitTrialsCompareUtterances) {
  std::vector<Embedding> e = {{1, 0}, {0.9f, 0.1f}, {0, 1}};
  std::vector<data::Trial> trials = {{0, 1, true}, {0, 2, false}, {1, 2, false}};
  auto r = EvaluateSpeakers(e, {"a", "a", "b"}, trials, {});
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->rates.eer, 0.0);
  EXPECT_EQ(r->tests, 3);
  EXPECT_FALSE(EvaluateSpeakers(e, {"a", "a", "b"}, {{0, 7, true}}, {}).ok());  // no utterance 7
}

}  // namespace
}  // namespace chorus::tasks
