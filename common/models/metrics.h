// Classification metrics: a confusion matrix that can be filled in pieces
// (and merged across ranks), and the report derived from it: accuracy,
// per-class precision / recall / F1 and support, as JSON and as a table.
// Torch-free. Not thread-safe; one matrix per thread, then Merge.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace chorus::models {

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::vector<std::string> labels);

  void Add(int actual, int predicted);
  void Merge(const ConfusionMatrix& other);  // same labels required

  int64_t Count(int actual, int predicted) const { return counts_[actual * size() + predicted]; }
  int64_t Total() const;
  int size() const { return static_cast<int>(labels_.size()); }
  const std::vector<std::string>& labels() const { return labels_; }
  // Row-major counts, actual x predicted (what a rank sends to be summed).
  std::vector<int64_t>& raw() { return counts_; }

 private:
  std::vector<std::string> labels_;
  std::vector<int64_t> counts_;
};

struct ClassMetrics {
  std::string label;
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;  // examples whose true class this is
};

struct EvalReport {
  double accuracy = 0;
  double loss = 0;  // mean cross-entropy when the evaluator computed it
  int64_t count = 0;
  std::vector<ClassMetrics> classes;
  std::vector<std::string> labels;
  std::vector<std::vector<int64_t>> confusion;  // [actual][predicted]

  nlohmann::json ToJson() const;
  // Per-class table, then the confusion matrix, for people.
  std::string ToTable() const;
};

EvalReport MakeReport(const ConfusionMatrix& matrix, double loss = 0);

}  // namespace chorus::models
