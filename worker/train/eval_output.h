// The output of one model evaluation (model_eval.h), as `chorus eval`
// writes and prints it:
//
//   JSON    OUT (a .json path), or OUT/eval.json (a folder): the model
//           (folder, name, version, task), the data (kind, root, split,
//           examples), ranks and seconds, "score_name" / "score", and the
//           task's figures under the split's name, as in the trainer's
//           eval.json ("test": accuracy, confusion, classes, one_vs_rest,
//           macro_roc_auc ... for classify), plus "curves": each ROC
//           curve thinned to 200 points.
//   scores  classify: SCORES.csv beside the JSON (eval.json -> scores.csv,
//           NAME.json -> NAME.scores.csv): "index,label,<class>..." per
//           example, the true class index and every class's probability.
//   plots   SPLIT_confusion, SPLIT_roc, SPLIT_det (.png or .svg) beside the
//           JSON (figures.h). Without gnuplot they are skipped with a
//           warning in EvalOutputFiles::plot_warning; the rest is written.
//   table   the header line and the task's table, for the terminal.
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config/job_spec.h"
#include "common/plot/gnuplot.h"
#include "common/util/status.h"
#include "worker/train/model_eval.h"

namespace chorus::train {

struct EvalOutputOptions {
  std::string out;       // a .json file or a folder
  bool plots = true;
  plot::PlotOptions plot;
};

struct EvalOutputFiles {
  std::string json, scores;  // scores: "" when the task has none
  std::vector<std::string> plots;
  std::string plot_warning;  // why plots are missing ("" when drawn or not asked for)
};

nlohmann::json EvalJson(const ModelEvalResult& result, const config::DatasetSpec& dataset);
std::string EvalTable(const ModelEvalResult& result);
Result<EvalOutputFiles> WriteEvalOutputs(const ModelEvalResult& result, const config::DatasetSpec& dataset,
                                         const EvalOutputOptions& options);

}  // namespace chorus::train
