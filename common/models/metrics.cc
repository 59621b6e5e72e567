#include "common/models/metrics.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "common/util/check.h"

namespace chorus::models {

ConfusionMatrix::ConfusionMatrix(std::vector<std::string> labels)
    : labels_(std::move(labels)), counts_(labels_.size() * labels_.size(), 0) {}

void ConfusionMatrix::Add(int actual, int predicted) {
  CHORUS_CHECK(actual >= 0 && actual < size() && predicted >= 0 && predicted < size())
      << "class index out of range: " << actual << ", " << predicted;
  ++counts_[actual * size() + predicted];
}

void ConfusionMatrix::Merge(const ConfusionMatrix& other) {
  CHORUS_CHECK(other.labels_ == labels_) << "merging confusion matrices with different labels";
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

int64_t ConfusionMatrix::Total() const {
  int64_t total = 0;
  for (int64_t c : counts_) total += c;
  return total;
}

EvalReport MakeReport(const ConfusionMatrix& m, double loss) {
  EvalReport r;
  r.labels = m.labels();
  r.count = m.Total();
  r.loss = loss;
  const int n = m.size();
  int64_t correct = 0;
  r.confusion.assign(n, std::vector<int64_t>(n, 0));
  for (int a = 0; a < n; ++a) {
    for (int p = 0; p < n; ++p) r.confusion[a][p] = m.Count(a, p);
    correct += m.Count(a, a);
  }
  r.accuracy = r.count ? static_cast<double>(correct) / r.count : 0.0;
  for (int c = 0; c < n; ++c) {
    int64_t tp = m.Count(c, c), predicted = 0, actual = 0;
    for (int k = 0; k < n; ++k) {
      predicted += m.Count(k, c);
      actual += m.Count(c, k);
    }
    ClassMetrics cm;
    cm.label = r.labels[c];
    cm.support = actual;
    cm.precision = predicted ? static_cast<double>(tp) / predicted : 0.0;
    cm.recall = actual ? static_cast<double>(tp) / actual : 0.0;
    cm.f1 = cm.precision + cm.recall > 0 ? 2 * cm.precision * cm.recall / (cm.precision + cm.recall) : 0.0;
    r.classes.push_back(cm);
  }
  return r;
}

nlohmann::json EvalReport::ToJson() const {
  nlohmann::json j;
  j["accuracy"] = accuracy;
  j["loss"] = loss;
  j["count"] = count;
  j["labels"] = labels;
  j["confusion"] = confusion;
  nlohmann::json per_class = nlohmann::json::array();
  for (const auto& c : classes) {
    per_class.push_back({{"label", c.label}, {"precision", c.precision}, {"recall", c.recall}, {"f1", c.f1},
                         {"support", c.support}});
  }
  j["classes"] = per_class;
  return j;
}

std::string EvalReport::ToTable() const {
  std::ostringstream out;
  std::size_t width = 5;
  for (const auto& l : labels) width = std::max(width, l.size());
  char line[256];
  std::snprintf(line, sizeof line, "%-*s %9s %9s %9s %8s\n", static_cast<int>(width), "class", "precision", "recall",
                "f1", "support");
  out << line;
  for (const auto& c : classes) {
    std::snprintf(line, sizeof line, "%-*s %9.4f %9.4f %9.4f %8lld\n", static_cast<int>(width), c.label.c_str(),
                  c.precision, c.recall, c.f1, static_cast<long long>(c.support));
    out << line;
  }
  std::snprintf(line, sizeof line, "accuracy %.4f over %lld examples\n", accuracy, static_cast<long long>(count));
  out << line << "\nconfusion (rows: actual, columns: predicted)\n";
  out << std::string(width, ' ');
  for (std::size_t p = 0; p < labels.size(); ++p) {
    std::snprintf(line, sizeof line, " %5zu", p);
    out << line;
  }
  out << "\n";
  for (std::size_t a = 0; a < labels.size(); ++a) {
    std::snprintf(line, sizeof line, "%-*s", static_cast<int>(width), labels[a].c_str());
    out << line;
    for (std::size_t p = 0; p < labels.size(); ++p) {
      std::snprintf(line, sizeof line, " %5lld", static_cast<long long>(confusion[a][p]));
      out << line;
    }
    out << "   (" << a << ")\n";
  }
  return out.str();
}

}  // namespace chorus::models
