// Evaluator: the task's evaluation (tasks::Evaluation: accuracy and the
// confusion matrix, or frame ROC-AUC, F1 and segment errors, ...) of a model
// on one split, sharded over ranks with every example counted once (rank r
// takes examples r, r+N, ...). Evaluation batches are deterministic (no
// augmentation, seeded silence, whole recordings), so their features are
// computed once, on the first Run, and kept (pinned when the model is on a
// GPU). The forward runs in float32 on the model's device (what serving will
// run); the task's counts are summed across ranks in one all-reduce.
// Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/audio/augment.h"
#include "common/audio/features.h"
#include "common/comm/communicator.h"
#include "common/models/model.h"
#include "common/tasks/task.h"
#include "common/util/status.h"
#include "worker/train/batch_loader.h"
#include "worker/train/clip_set.h"

namespace chorus::train {

struct EvaluatorOptions {
  int batch_size = 256;
  uint64_t seed = 1;                // silence examples' noise
  float silence_volume_max = 0.1f;
  bool pin_memory = false;
  int rank = 0;
  int world_size = 1;
  std::vector<data::Trial> trials;  // the split's explicit verification trials (embed), if any
};

class Evaluator {
 public:
  Evaluator(ClipSet& clips, const audio::FeatureExtractor& extractor, const audio::Augmenter& augmenter,
            const tasks::Task& task, EvaluatorOptions options);

  // comm: null for one process. A failed collective is returned, not handled.
  Result<tasks::TaskReport> Run(models::Model& model, comm::Communicator* comm, const std::string& tag);

  int64_t size() const { return clips_.size(); }

 private:
  Status BuildBatches();

  ClipSet& clips_;
  const audio::FeatureExtractor& extractor_;
  const audio::Augmenter& augmenter_;
  const tasks::Task& task_;
  EvaluatorOptions options_;
  bool built_ = false;
  std::vector<Batch> batches_;
};

}  // namespace chorus::train
