#include "worker/train/eval_output.h"

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "common/plot/figures.h"
#include "common/util/fs.h"

namespace chorus::train {
namespace {

namespace fs = std::filesystem;

constexpr size_t kJsonCurvePoints = 200;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

nlohmann::json EvalJson(const ModelEvalResult& r, const config::DatasetSpec& dataset) {
  nlohmann::json curves = nlohmann::json::array();
  for (const auto& c : r.report.curves) {
    nlohmann::json j = tasks::RocJson(c.curve, kJsonCurvePoints);
    j["name"] = c.name;
    curves.push_back(j);
  }
  return {{"model", {{"dir", r.model_dir}, {"name", r.model_name}, {"version", r.model_version}, {"task", r.task}}},
          {"data", {{"kind", dataset.kind}, {"root", dataset.root}, {"split", r.split}, {"examples", r.examples.size()}}},
          {"split", r.split},
          {"ranks", r.ranks},
          {"seconds", r.seconds},
          {"score_name", r.report.score_name},
          {"score", r.report.score},
          {r.split, r.report.details},
          {"curves", curves}};
}

std::string EvalTable(const ModelEvalResult& r) {
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof line, "%s version %lld (%s) on the %s split: %zu examples, %d rank(s), %.1f s\n\n",
                r.model_name.c_str(), static_cast<long long>(r.model_version), r.task.c_str(), r.split.c_str(),
                r.examples.size(), r.ranks, r.seconds);
  out << line << r.report.table;
  std::snprintf(line, sizeof line, "\n%s %s: %.6f (%lld examples)\n", r.split.c_str(), r.report.score_name.c_str(),
                r.report.score, static_cast<long long>(r.report.count));
  out << line;
  return out.str();
}

Result<EvalOutputFiles> WriteEvalOutputs(const ModelEvalResult& r, const config::DatasetSpec& dataset,
                                         const EvalOutputOptions& options) {
  RETURN_IF_ERROR(plot::CheckFormat(options.plot.format));
  EvalOutputFiles files;
  fs::path json = options.out;
  if (!EndsWith(options.out, ".json")) json = fs::path(options.out) / "eval.json";
  const fs::path dir = json.parent_path().empty() ? fs::path(".") : json.parent_path();
  RETURN_IF_ERROR(MakeDirs(dir.string()));
  files.json = json.string();
  RETURN_IF_ERROR(AtomicWriteFile(files.json, EvalJson(r, dataset).dump(2) + "\n"));

  if (!r.report.example_scores.empty()) {
    const std::string stem = json.stem().string();
    files.scores = (dir / (stem == "eval" ? "scores.csv" : stem + ".scores.csv")).string();
    std::ostringstream csv;
    csv << "index,label";
    for (const auto& l : r.labels) csv << "," << l;
    csv << "\n";
    for (size_t i = 0; i < r.report.example_scores.size(); ++i) {
      csv << i << "," << (i < r.examples.size() ? r.examples[i].label : -1);
      for (double p : r.report.example_scores[i]) csv << "," << Number(p);
      csv << "\n";
    }
    RETURN_IF_ERROR(AtomicWriteFile(files.scores, csv.str()));
  }

  if (options.plots) {
    if (!plot::GnuplotAvailable(options.plot)) {
      files.plot_warning = "no plots: gnuplot is not installed (program '" + options.plot.gnuplot +
                           "'; on Debian/Ubuntu: apt-get install gnuplot-nox)";
    } else {
      const std::string title = r.model_name + " v" + std::to_string(r.model_version) + ", " + r.split;
      ASSIGN_OR_RETURN(files.plots, plot::PlotEvaluation(r.report.details, r.report.curves, title, dir.string(),
                                                         r.split + "_", options.plot));
    }
  }
  return files;
}

}  // namespace chorus::train
