// ROC curves, AUC, DET and EER (common/tasks/roc.h) against hand-checked
// cases and against numpy (roc_reference.py, run with /usr/bin/python3: the
// Mann-Whitney AUC with mid-ranks, as sklearn's roc_auc_score) to 1e-6.
#include "common/tasks/roc.h"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "common/util/subprocess.h"

namespace chorus::tasks {
namespace {

namespace fs = std::filesystem;

std::string ReferenceScript() {
  const char* source = std::getenv("CHORUS_SOURCE_DIR");
  if (source) return std::string(source) + "/tests/common/tasks/roc_reference.py";
  const std::string here = __FILE__;
  return here.substr(0, here.find_last_of('/') + 1) + "roc_reference.py";
}

TEST(Roc, SeparatedScoresHaveAreaOneAndNoErrors) {
  auto c = RocFromScores({0.9, 0.8, 0.3, 0.1}, {1, 1, 0, 0});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_DOUBLE_EQ(Auc(*c), 1.0);
  EXPECT_DOUBLE_EQ(ComputeEer(*c).eer, 0.0);
  EXPECT_EQ(c->size(), 5u);  // +inf and one point per distinct score
  EXPECT_TRUE(std::isinf(c->thresholds[0]));
  EXPECT_DOUBLE_EQ(c->fpr.back(), 1.0);
  EXPECT_DOUBLE_EQ(c->tpr.back(), 1.0);
  // The EER threshold separates the two sets.
  EXPECT_GT(ComputeEer(*c).threshold, 0.3);
  EXPECT_LE(ComputeEer(*c).threshold, 0.8);
}

TEST(Roc, ReversedScoresHaveAreaZero) {
  auto c = RocFromScores({0.1, 0.2, 0.8, 0.9}, {1, 1, 0, 0});
  ASSERT_TRUE(c.ok());
  EXPECT_DOUBLE_EQ(Auc(*c), 0.0);
  EXPECT_DOUBLE_EQ(ComputeEer(*c).eer, 1.0);
}

TEST(Roc, TiesCountHalf) {
  // All scores equal: one diagonal step, area 1/2 (sklearn gives 0.5).
  auto flat = RocFromScores({0.5, 0.5, 0.5, 0.5, 0.5}, {1, 0, 1, 0, 0});
  ASSERT_TRUE(flat.ok());
  EXPECT_DOUBLE_EQ(Auc(*flat), 0.5);
  EXPECT_EQ(flat->size(), 2u);
  // By hand: positives {0.8, 0.4}, negatives {0.4, 0.2}: pairs (0.8>0.4) 1,
  // (0.8>0.2) 1, (0.4=0.4) 1/2, (0.4>0.2) 1 -> 3.5 / 4.
  auto tied = RocFromScores({0.8, 0.4, 0.4, 0.2}, {1, 1, 0, 0});
  ASSERT_TRUE(tied.ok());
  EXPECT_DOUBLE_EQ(Auc(*tied), 0.875);
}

TEST(Roc, GroupsMatchScoresAndSkipEmptyBins) {
  auto from_scores = RocFromScores({0.7, 0.7, 0.7, 0.2, 0.2, 0.9}, {1, 1, 0, 0, 1, 0});
  auto from_groups = RocFromGroups({{0.2, 1, 1}, {0.5, 0, 0}, {0.7, 2, 1}, {0.9, 0, 1}});
  ASSERT_TRUE(from_scores.ok() && from_groups.ok());
  EXPECT_EQ(from_scores->fpr, from_groups->fpr);
  EXPECT_EQ(from_scores->tpr, from_groups->tpr);
  EXPECT_DOUBLE_EQ(Auc(*from_scores), Auc(*from_groups));
}

TEST(Roc, EerInterpolatesTheCrossing) {
  // Points (fpr, fnr): (0, 1), (0, 0.5), (0.5, 0), (1, 0).
  auto c = RocFromScores({0.9, 0.5, 0.5, 0.1}, {1, 1, 0, 0});
  ASSERT_TRUE(c.ok());
  const std::vector<double> fnr = FalseNegativeRates(*c);
  ASSERT_EQ(fnr.size(), c->size());
  EXPECT_DOUBLE_EQ(fnr[0], 1.0);
  // Along the tie fpr rises 0 -> 0.5 while fnr falls 0.5 -> 0: they meet at 0.25.
  EXPECT_NEAR(ComputeEer(*c).eer, 0.25, 1e-12);
}

TEST(Roc, BadInputIsAnError) {
  EXPECT_FALSE(RocFromScores({0.1, 0.2}, {1, 1}).ok());  // no negative
  EXPECT_FALSE(RocFromScores({0.1}, {1, 0}).ok());       // sizes differ
  EXPECT_FALSE(RocFromScores({NAN, 0.2}, {1, 0}).ok());
  EXPECT_FALSE(RocFromGroups({}).ok());
}

TEST(Roc, ThinKeepsEndsAndShape) {
  std::mt19937 rng(3);
  std::normal_distribution<double> noise;
  std::vector<double> s;
  std::vector<uint8_t> y;
  for (int i = 0; i < 5000; ++i) {
    y.push_back(i % 3 == 0);
    s.push_back(noise(rng) + (y.back() ? 1.0 : 0.0));
  }
  auto c = RocFromScores(s, y);
  ASSERT_TRUE(c.ok());
  const RocCurve t = Thin(*c, 100);
  EXPECT_LE(t.size(), 100u);
  EXPECT_GE(t.size(), 50u);
  EXPECT_EQ(t.fpr.front(), 0.0);
  EXPECT_EQ(t.tpr.back(), 1.0);
  EXPECT_NEAR(Auc(t), Auc(*c), 2e-3);
  const nlohmann::json j = RocJson(*c, 100);
  EXPECT_TRUE(j["thresholds"][0].is_null());
  EXPECT_EQ(j["fpr"].size(), t.size());
}

TEST(Roc, OneVsRestSkipsClassesWithoutPositives) {
  const std::vector<std::vector<double>> p = {{0.8, 0.1, 0.1}, {0.3, 0.6, 0.1}, {0.5, 0.4, 0.1}, {0.2, 0.7, 0.1}};
  const auto curves = OneVsRestCurves(p, {0, 1, 0, 1}, {"a", "b", "c"});
  ASSERT_EQ(curves.size(), 2u);  // nobody is "c"
  EXPECT_EQ(curves[0].name, "a");
  EXPECT_DOUBLE_EQ(Auc(curves[0].curve), 1.0);
  EXPECT_DOUBLE_EQ(Auc(curves[1].curve), 1.0);
}

// Random scores with many ties (rounded to 2 decimals), against numpy.
TEST(Roc, MatchesNumpyReference) {
  if (!fs::exists("/usr/bin/python3")) GTEST_SKIP() << "/usr/bin/python3 is not installed";
  const fs::path dir = fs::temp_directory_path() / ("roc_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::mt19937 rng(7);
  std::normal_distribution<double> noise;
  for (int round = 0; round < 4; ++round) {
    std::vector<double> s;
    std::vector<uint8_t> y;
    const int n = 200 + 300 * round;
    std::ofstream csv(dir / "scores.csv");
    csv.precision(17);
    for (int i = 0; i < n; ++i) {
      y.push_back(noise(rng) > 0.3 * round);
      const double v = noise(rng) * (1 + round) + (y.back() ? 0.8 : 0.0);
      s.push_back(round % 2 ? std::round(v * 100) / 100 : v);  // odd rounds: many ties
      csv << s.back() << "," << int(y.back()) << "\n";
    }
    csv.close();
    auto run = RunCommand({"/usr/bin/python3", ReferenceScript(), "binary", (dir / "scores.csv").string()});
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    ASSERT_EQ(run->exit_code, 0) << run->err;
    const nlohmann::json ref = nlohmann::json::parse(run->out);
    auto c = RocFromScores(s, y);
    ASSERT_TRUE(c.ok());
    EXPECT_NEAR(Auc(*c), ref["auc"].get<double>(), 1e-6) << "round " << round;
    EXPECT_NEAR(Auc(*c), ref["trapezoid_auc"].get<double>(), 1e-6);
    EXPECT_NEAR(ComputeEer(*c).eer, ref["eer"].get<double>(), 1e-6);
    ASSERT_EQ(c->size(), ref["fpr"].size());
    for (size_t i = 0; i < c->size(); ++i) {
      EXPECT_NEAR(c->fpr[i], ref["fpr"][i].get<double>(), 1e-12);
      EXPECT_NEAR(c->tpr[i], ref["tpr"][i].get<double>(), 1e-12);
      if (i > 0) EXPECT_DOUBLE_EQ(c->thresholds[i], ref["thresholds"][i].get<double>());
    }
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace chorus::tasks
