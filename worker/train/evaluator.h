// Evaluator: accuracy, mean loss and the confusion matrix of a model on one
// split, sharded over ranks with every example counted once (rank r takes
// examples r, r+N, ...). Evaluation batches are deterministic (no
// augmentation, seeded silence), so their features are computed once, on the
// first Run, and kept (pinned when the model is on a GPU). The forward runs in
// float32 on the model's device (what serving will run); the counts are
// summed on the device and all-reduced, so a GPU is read once per run.
// Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/audio/augment.h"
#include "common/audio/features.h"
#include "common/comm/communicator.h"
#include "common/models/metrics.h"
#include "common/models/model.h"
#include "common/util/status.h"
#include "worker/train/batch_loader.h"
#include "worker/train/clip_set.h"

namespace chorus::train {

struct EvaluatorOptions {
  std::vector<std::string> labels;
  int batch_size = 256;
  uint64_t seed = 1;                // silence examples' noise
  float silence_volume_max = 0.1f;
  bool pin_memory = false;
  int rank = 0;
  int world_size = 1;
};

class Evaluator {
 public:
  Evaluator(ClipSet& clips, const audio::FeatureExtractor& extractor, const audio::Augmenter& augmenter,
            EvaluatorOptions options);

  // comm: null for one process. A failed collective is returned, not handled.
  Result<models::EvalReport> Run(models::Model& model, comm::Communicator* comm, const std::string& tag);

  int64_t size() const { return clips_.size(); }

 private:
  Status BuildBatches();

  ClipSet& clips_;
  const audio::FeatureExtractor& extractor_;
  const audio::Augmenter& augmenter_;
  EvaluatorOptions options_;
  bool built_ = false;
  std::vector<Batch> batches_;
};

}  // namespace chorus::train
