#include "worker/train/training_plots.h"

#include <filesystem>

#include "common/plot/figures.h"

namespace chorus::train {

namespace fs = std::filesystem;

Result<std::vector<std::string>> WriteTrainingPlots(const std::string& run_dir, const std::string& title,
                                                    const std::optional<tasks::TaskReport>& validation,
                                                    const std::optional<tasks::TaskReport>& test,
                                                    const plot::PlotOptions& options) {
  if (!plot::GnuplotAvailable(options)) {
    return FailedPrecondition("no plots in " + run_dir + ": gnuplot is not installed (on Debian/Ubuntu: apt-get "
                              "install gnuplot-nox)");
  }
  const fs::path dir = fs::path(run_dir) / "plots";
  std::vector<std::string> written;
  ASSIGN_OR_RETURN(plot::TrainingHistory history, plot::ReadMetricsJsonl((fs::path(run_dir) / "metrics.jsonl").string()));
  ASSIGN_OR_RETURN(std::string training, plot::PlotTraining(history, title, (dir / "training").string(), options));
  written.push_back(training);
  for (const auto& [split, report] : {std::make_pair("validation", &validation), std::make_pair("test", &test)}) {
    if (!report->has_value()) continue;
    ASSIGN_OR_RETURN(std::vector<std::string> images,
                     plot::PlotEvaluation((*report)->details, (*report)->curves, title + ", " + split, dir.string(),
                                          std::string(split) + "_", options));
    written.insert(written.end(), images.begin(), images.end());
  }
  return written;
}

}  // namespace chorus::train
