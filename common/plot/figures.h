// Chorus's figures, drawn with gnuplot (gnuplot.h), for the trainer, `chorus
// eval` and `chorus status --plot`:
//
//   training   PREFIX training: the loss and the task's accuracy of the
//              training steps with the validation (and test) evaluations
//              against the step, and the learning rate.
//   confusion  PREFIX confusion: counts, rows the actual class, columns the
//              predicted one.
//   roc        PREFIX roc: one ROC curve per class (one-vs-rest), for the
//              speech frames or the verification trials; AUC in the legend.
//   det        PREFIX det: false-negative against false-positive rate on
//              normal-deviate (probit) axes; EER in the legend.
//
// Each writes NAME.gp and NAME.png or NAME.svg (PlotOptions::format) and
// returns the image's path. Thread-safe.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/plot/gnuplot.h"
#include "common/tasks/roc.h"
#include "common/util/status.h"

namespace chorus::plot {

struct TrainingHistory {
  struct Step {
    double step = 0, loss = 0, accuracy = 0, learning_rate = 0;
  };
  struct Evaluation {
    double step = 0;
    std::string split;   // validation | test
    std::string metric;  // accuracy, roc_auc, 1-EER, ...
    double score = 0;
    double loss = NAN;   // NaN when not known
  };
  std::vector<Step> steps;
  std::vector<Evaluation> evaluations;
};

// The trainer's metrics.jsonl (worker/train/trainer.h): "step" and "eval"
// lines; other lines are skipped. A missing file is NotFound, a line that is
// not JSON an InvalidArgument naming its line number.
Result<TrainingHistory> ReadMetricsJsonl(const std::string& path);

Result<std::string> PlotTraining(const TrainingHistory& history, const std::string& title, const std::string& base,
                                 const PlotOptions& options);
Result<std::string> PlotConfusion(const std::vector<std::string>& labels,
                                  const std::vector<std::vector<int64_t>>& confusion, const std::string& title,
                                  const std::string& base, const PlotOptions& options);
Result<std::string> PlotRoc(const std::vector<tasks::NamedRoc>& curves, const std::string& title,
                            const std::string& base, const PlotOptions& options);
Result<std::string> PlotDet(const std::vector<tasks::NamedRoc>& curves, const std::string& title,
                            const std::string& base, const PlotOptions& options);

// The figures of one evaluation report into `dir`: PREFIXconfusion when
// `details` has "labels" and "confusion" (classify), PREFIXroc and PREFIXdet
// when there are curves. Returns the images written; stops at the first error.
Result<std::vector<std::string>> PlotEvaluation(const nlohmann::json& details,
                                                const std::vector<tasks::NamedRoc>& curves,
                                                const std::string& title, const std::string& dir,
                                                const std::string& prefix, const PlotOptions& options);

}  // namespace chorus::plot
