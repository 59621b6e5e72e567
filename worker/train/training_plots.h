// The trainer's figures, drawn at the end of a run (rank 0) into
// RUN_DIR/plots (figures.h): "training" from RUN_DIR/metrics.jsonl (loss,
// accuracy, validation and test scores, learning rate against the step), and
// for each final report (validation of the best model, test) its
// evaluation figures: SPLIT_confusion, SPLIT_roc, SPLIT_det. A run without
// gnuplot, or a figure that fails, costs the figures, never the run: the
// caller logs the returned Status as a warning. Thread-compatible.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/plot/gnuplot.h"
#include "common/tasks/task.h"
#include "common/util/status.h"

namespace chorus::train {

// Returns the images written.
Result<std::vector<std::string>> WriteTrainingPlots(const std::string& run_dir, const std::string& title,
                                                    const std::optional<tasks::TaskReport>& validation,
                                                    const std::optional<tasks::TaskReport>& test,
                                                    const plot::PlotOptions& options = {});

}  // namespace chorus::train
