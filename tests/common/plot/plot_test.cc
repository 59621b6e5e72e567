// Charts through gnuplot (common/plot): PNG and SVG files that are what they
// claim (magic bytes, a non-trivial size), the gnuplot script beside them,
// and clear errors for a missing gnuplot and bad input.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "common/plot/figures.h"
#include "common/plot/gnuplot.h"

namespace chorus::plot {
namespace {

namespace fs = std::filesystem;

std::string Head(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes(n, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(n));
  bytes.resize(static_cast<size_t>(in.gcount()));
  return bytes;
}

void ExpectImage(const std::string& path, const std::string& format) {
  ASSERT_TRUE(fs::is_regular_file(path)) << path;
  EXPECT_GT(fs::file_size(path), 2000u) << path;
  if (format == "png") {
    EXPECT_EQ(Head(path, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
  } else {
    const std::string head = Head(path, 400);
    EXPECT_NE(head.find("<svg"), std::string::npos) << path << ": " << head;
  }
  const std::string script = path.substr(0, path.rfind('.')) + ".gp";
  EXPECT_TRUE(fs::is_regular_file(script)) << script;
}

class PlotTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!GnuplotAvailable(PlotOptions{})) GTEST_SKIP() << "gnuplot is not installed";
    dir_ = fs::temp_directory_path() / ("plot_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    options_.format = GetParam();
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  PlotOptions options_;
};

std::vector<tasks::NamedRoc> Curves() {
  std::vector<tasks::NamedRoc> out;
  for (int k = 0; k < 3; ++k) {
    std::vector<double> s;
    std::vector<uint8_t> y;
    for (int i = 0; i < 300; ++i) {
      y.push_back(i % 2);
      s.push_back(((i * 7919) % 101) / 100.0 + (y.back() ? 0.3 * (k + 1) : 0.0));
    }
    out.push_back({"class " + std::to_string(k), *tasks::RocFromScores(s, y)});
  }
  return out;
}

TEST_P(PlotTest, TrainingCurves) {
  const fs::path metrics = dir_ / "metrics.jsonl";
  {
    std::ofstream out(metrics);
    for (int step = 10; step <= 100; step += 10) {
      out << R"({"event":"step","step":)" << step << R"(,"epoch":0,"loss":)" << 2.0 / step * 10
          << R"(,"accuracy":)" << step / 120.0 << R"(,"lr":0.001,"samples_per_second":100})" << "\n";
      if (step % 50 == 0)
        out << R"({"event":"eval","split":"validation","step":)" << step << R"(,"accuracy":0.7,"loss":0.9})" << "\n";
      if (step == 60) out << R"({"event":"checkpoint","step":60,"path":"x"})" << "\n";
    }
    out << R"({"event":"eval","split":"test","step":100,"accuracy":0.75,"loss":0.8})" << "\n";
  }
  auto history = ReadMetricsJsonl(metrics.string());
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_EQ(history->steps.size(), 10u);
  ASSERT_EQ(history->evaluations.size(), 3u);
  EXPECT_EQ(history->evaluations[0].metric, "accuracy");
  EXPECT_EQ(history->evaluations[2].split, "test");
  auto image = PlotTraining(*history, "job", (dir_ / "training").string(), options_);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ExpectImage(*image, GetParam());
}

TEST_P(PlotTest, EvaluationFigures) {
  const nlohmann::json details = {{"labels", {"yes", "no", "up_down"}},
                                  {"confusion", {{10, 2, 0}, {1, 12, 3}, {0, 0, 9}}}};
  auto images = PlotEvaluation(details, Curves(), "test", dir_.string(), "test_", options_);
  ASSERT_TRUE(images.ok()) << images.status().ToString();
  ASSERT_EQ(images->size(), 3u);
  EXPECT_EQ(fs::path((*images)[0]).filename().string(), "test_confusion." + GetParam());
  for (const auto& image : *images) ExpectImage(image, GetParam());
}

TEST_P(PlotTest, EmptySeriesStillDraw) {
  Panel p("nothing yet", "step", "loss");
  p.series.emplace_back("empty");
  auto image = DrawPanels({p}, 1, 1, (dir_ / "empty").string(), options_);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  ExpectImage(*image, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Formats, PlotTest, ::testing::Values("png", "svg"));

TEST(Plot, MissingGnuplotIsAClearError) {
  PlotOptions o;
  o.gnuplot = "/nonexistent/gnuplot";
  EXPECT_FALSE(GnuplotAvailable(o));
  auto image = PlotConfusion({"a", "b"}, {{1, 0}, {0, 1}}, "", "/tmp/never", o);
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(image.status().message().find("gnuplot is not installed"), std::string::npos) << image.status().message();
}

TEST(Plot, BadInputIsAnError) {
  PlotOptions o;
  o.format = "gif";
  EXPECT_EQ(CheckFormat("gif").code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(DrawMatrix(MatrixChart{}, "/tmp/never", PlotOptions{}).ok());
  EXPECT_EQ(ReadMetricsJsonl("/nonexistent/metrics.jsonl").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace chorus::plot
