// BatchLoader: turns a ClipSet into batches of features and the task's
// targets off the training thread. Clips (a fixed-length task) all have the
// same number of frames; recordings (tasks::Task::whole_recordings) are used
// whole, or, with crop_seconds, as a crop of that length at a random place
// (training), and a batch is padded to its longest example, the task's
// targets carrying the mask. Augmentation (time shift, noise, SpecAugment)
// applies to clips only: it would move or hide the speech that a
// recording's targets locate. For each epoch the caller gives the order of examples (from the
// DistributedSampler) and the first batch to produce (non-zero on resume).
// Worker threads build batches in parallel; Next() returns them in order.
//
// Every random choice for an example (time shift, noise, SpecAugment, silence
// noise) comes from an RNG seeded by (seed, epoch, example index), so a
// batch's content does not depend on which thread made it, on whether the run
// was resumed, or on how many ranks share the epoch. Evaluation loaders (augment off) still draw silence
// noise from that RNG, so evaluation sets are fixed for a seed.
//
// Next() is called from one thread only. Destruction stops the workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <ATen/core/Tensor.h>

#include "common/audio/augment.h"
#include "common/audio/features.h"
#include "common/tasks/task.h"
#include "common/util/status.h"
#include "worker/train/clip_set.h"

namespace chorus::train {

struct BatchLoaderOptions {
  int batch_size = 64;
  bool drop_last = true;   // drop a final partial batch (training)
  bool augment = true;     // time shift, noise, SpecAugment
  float silence_volume_max = 0.1f;  // silence examples: noise volume in [0, max]
  uint64_t seed = 1;
  int threads = 1;
  int prefetch = 4;        // batches buffered ahead
  bool pin_memory = false; // page-locked batches, for asynchronous copies to a GPU
  double crop_seconds = 0; // recordings: a random crop this long (0: whole)
};

struct Batch {
  at::Tensor features;    // [B, frames, bins], on the host (pinned with pin_memory), zero-padded
  tasks::Targets targets; // likewise
  int64_t index = 0;      // batch index within the epoch
};

class BatchLoader {
 public:
  BatchLoader(ClipSet& clips, const audio::FeatureExtractor& extractor, const audio::Augmenter& augmenter,
              const tasks::Task& task, BatchLoaderOptions options);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Replaces any epoch in progress.
  void StartEpoch(int64_t epoch, std::vector<int64_t> order, int64_t first_batch = 0);

  // The next batch of the epoch, nullopt when it is done, or an error (a
  // failed feature computation).
  Result<std::optional<Batch>> Next();

  int64_t NumBatches(int64_t num_examples) const;

  // Builds one batch synchronously (used by evaluation and tests).
  Result<Batch> MakeBatch(int64_t epoch, const std::vector<int64_t>& order, int64_t batch_index) const;

 private:
  void StopWorkers();
  void WorkerLoop(uint64_t generation);

  ClipSet& clips_;
  const audio::FeatureExtractor& extractor_;
  const audio::Augmenter& augmenter_;
  const tasks::Task& task_;
  BatchLoaderOptions options_;

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  int64_t epoch_ = 0;
  std::vector<int64_t> order_;
  int64_t next_to_claim_ = 0;   // next batch index a worker will build
  int64_t next_to_return_ = 0;  // next batch index Next() hands out
  int64_t num_batches_ = 0;
  std::map<int64_t, Result<Batch>> ready_;
  std::vector<std::thread> workers_;
};

}  // namespace chorus::train
