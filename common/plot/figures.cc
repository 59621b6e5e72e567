#include "common/plot/figures.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace chorus::plot {
namespace {

namespace fs = std::filesystem;

constexpr size_t kCurvePoints = 400;  // per curve drawn

std::string Fixed(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

}  // namespace

Result<TrainingHistory> ReadMetricsJsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound(path + ": no metrics file");
  TrainingHistory h;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      return InvalidArgument(path + ":" + std::to_string(number) + ": not a JSON object");
    const std::string event = j.value("event", "");
    try {
      if (event == "step") {
        h.steps.push_back({j.at("step").get<double>(), j.value("loss", 0.0), j.value("accuracy", 0.0),
                           j.value("lr", 0.0)});
      } else if (event == "eval") {
        TrainingHistory::Evaluation e;
        e.step = j.at("step").get<double>();
        e.split = j.value("split", "");
        e.loss = j.contains("loss") ? j["loss"].get<double>() : NAN;
        for (const auto& [key, value] : j.items()) {
          if (key == "event" || key == "split" || key == "step" || key == "loss" || !value.is_number()) continue;
          e.metric = key;
          e.score = value.get<double>();
        }
        h.evaluations.push_back(e);
      }
    } catch (const nlohmann::json::exception& e) {
      return InvalidArgument(path + ":" + std::to_string(number) + ": " + e.what());
    }
  }
  return h;
}

Result<std::string> PlotTraining(const TrainingHistory& h, const std::string& title, const std::string& base,
                                 const PlotOptions& options) {
  Panel loss(title.empty() ? "loss" : title + ": loss", "step", "loss");
  Panel score("accuracy and evaluation score", "step", "accuracy / score");
  Panel lr("learning rate", "step", "learning rate");
  loss.key = score.key = lr.key = "top right";
  score.key = "bottom right";
  Series train_loss("training loss"), train_acc("training accuracy"), rate("learning rate");
  for (const auto& s : h.steps) {
    train_loss.x.push_back(s.step), train_loss.y.push_back(s.loss);
    train_acc.x.push_back(s.step), train_acc.y.push_back(s.accuracy);
    rate.x.push_back(s.step), rate.y.push_back(s.learning_rate);
  }
  loss.series.push_back(train_loss);
  score.series.push_back(train_acc);
  lr.series.push_back(rate);
  for (const std::string split : {"validation", "test"}) {
    const std::string style = split == "test" ? "points pt 7 ps 1.5" : "linespoints pt 7";
    Series l(split + " loss", {}, {}, style);
    Series sc(split, {}, {}, style);
    for (const auto& e : h.evaluations) {
      if (e.split != split) continue;
      l.x.push_back(e.step), l.y.push_back(e.loss);
      sc.x.push_back(e.step), sc.y.push_back(e.score);
      if (!e.metric.empty()) sc.title = split + " " + e.metric;
    }
    if (!l.x.empty()) loss.series.push_back(l);
    if (!sc.x.empty()) score.series.push_back(sc);
  }
  score.yrange = std::make_pair(0.0, 1.0);
  PlotOptions o = options;
  o.height = std::max(o.height, 900);
  return DrawPanels({loss, score, lr}, 3, 1, base, o);
}

Result<std::string> PlotConfusion(const std::vector<std::string>& labels,
                                  const std::vector<std::vector<int64_t>>& confusion, const std::string& title,
                                  const std::string& base, const PlotOptions& options) {
  MatrixChart chart;
  chart.title = title.empty() ? "confusion matrix" : title + ": confusion matrix";
  chart.xlabel = "predicted";
  chart.ylabel = "actual";
  chart.row_labels = chart.column_labels = labels;
  for (const auto& row : confusion) chart.values.emplace_back(row.begin(), row.end());
  return DrawMatrix(chart, base, options);
}

Result<std::string> PlotRoc(const std::vector<tasks::NamedRoc>& curves, const std::string& title,
                            const std::string& base, const PlotOptions& options) {
  Panel p(title.empty() ? "ROC" : title + ": ROC", "false-positive rate", "true-positive rate");
  p.square = true;
  p.diagonal = true;
  p.key = "outside right top";
  p.xrange = p.yrange = std::make_pair(0.0, 1.0);
  for (const auto& c : curves) {
    const tasks::RocCurve thin = tasks::Thin(c.curve, kCurvePoints);
    p.series.emplace_back(c.name + " (AUC " + Fixed("%.4f", tasks::Auc(c.curve)) + ")", thin.fpr, thin.tpr);
  }
  return DrawPanels({p}, 1, 1, base, options);
}

Result<std::string> PlotDet(const std::vector<tasks::NamedRoc>& curves, const std::string& title,
                            const std::string& base, const PlotOptions& options) {
  Panel p(title.empty() ? "DET" : title + ": DET", "false-positive rate", "false-negative rate");
  p.square = true;
  p.diagonal = true;
  p.key = "outside right top";
  p.xscale = p.yscale = Scale::kProbit;
  p.xrange = p.yrange = std::make_pair(0.001, 0.6);
  for (const auto& c : curves) {
    const tasks::RocCurve thin = tasks::Thin(c.curve, kCurvePoints);
    p.series.emplace_back(c.name + " (EER " + Fixed("%.2f%%", 100 * tasks::ComputeEer(c.curve).eer) + ")", thin.fpr,
                          tasks::FalseNegativeRates(thin));
  }
  return DrawPanels({p}, 1, 1, base, options);
}

Result<std::vector<std::string>> PlotEvaluation(const nlohmann::json& details,
                                                const std::vector<tasks::NamedRoc>& curves,
                                                const std::string& title, const std::string& dir,
                                                const std::string& prefix, const PlotOptions& options) {
  std::vector<std::string> written;
  const std::string base = (fs::path(dir) / prefix).string();
  if (details.is_object() && details.contains("labels") && details.contains("confusion")) {
    std::vector<std::string> labels;
    std::vector<std::vector<int64_t>> confusion;
    try {
      labels = details["labels"].get<std::vector<std::string>>();
      confusion = details["confusion"].get<std::vector<std::vector<int64_t>>>();
    } catch (const nlohmann::json::exception& e) {
      return InvalidArgument(std::string("evaluation report: labels / confusion: ") + e.what());
    }
    ASSIGN_OR_RETURN(std::string image, PlotConfusion(labels, confusion, title, base + "confusion", options));
    written.push_back(image);
  }
  if (!curves.empty()) {
    ASSIGN_OR_RETURN(std::string roc, PlotRoc(curves, title, base + "roc", options));
    written.push_back(roc);
    ASSIGN_OR_RETURN(std::string det, PlotDet(curves, title, base + "det", options));
    written.push_back(det);
  }
  return written;
}

}  // namespace chorus::plot
