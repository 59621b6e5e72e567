// Trainer: runs one training job as this process's rank: reads its shard of
// the dataset, builds features off the training thread, trains with the job's
// optimizer and schedule, evaluates (sharded, every example counted once) and
// early-stops on validation accuracy, checkpoints atomically (rank 0), and at
// the end evaluates the best model on the test split and exports it (rank 0).
// Rank 0 writes OUTPUT/metrics.jsonl (steps, evaluations, checkpoints),
// OUTPUT/eval.json (the final reports) and OUTPUT/plots (training_plots.h;
// a warning, not a failure, without gnuplot).
//
// With a Communicator of N ranks it is data-parallel: rank 0's parameters and
// buffers are broadcast at the start, BatchNorm buffers before every step,
// gradients are averaged by a bucketed GradientReducer overlapping backward
// (or reduce-scattered for `sharding: optimizer`), so N ranks x batch B train
// like one process with batch N*B. A collective that times out aborts the
// job with a message naming the rank, step and bucket.
//
// Devices: training.device picks the CPU or a GPU (plain "cuda": GPU
// local_rank modulo the GPUs visible, one rank per GPU); the model, batches
// (copied asynchronously from pinned host memory), gradient buckets and
// optimizer state live there, and the communicator must match it (NCCL for
// CUDA). Features and augmentation are computed on the host by the loader's
// threads, overlapping the device's work. training.precision: bf16 runs
// forward and loss under bfloat16 autocast. Checkpoints load onto whatever
// device the resuming run uses.
//
// Resume: with TrainerOptions::resume, a run picks up the latest checkpoint in
// OUTPUT/checkpoints and continues exactly as an uninterrupted run would (same
// batches, augmentation, dropout masks and optimizer state).
//
// Create() does all the loading and validation and returns a Status for any
// problem; Run() may be called once. Not thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "common/comm/communicator.h"
#include "common/config/job_spec.h"
#include "common/tasks/task.h"
#include "common/util/status.h"
#include "worker/train/progress.h"

namespace chorus::train {

struct TrainerOptions {
  config::TrainJobSpec spec;
  bool resume = true;                     // continue from OUTPUT/checkpoints/latest if present
  int log_every_steps = 20;
  ProgressReporter* reporter = nullptr;   // nullptr: LogProgressReporter
  const std::atomic<bool>* stop_requested = nullptr;  // checked after every step (agreed by all ranks)
  comm::Communicator* comm = nullptr;     // nullptr: a single process
  int local_rank = 0;                     // rank among this host's processes (picks the GPU)
};

struct TrainResult {
  int64_t steps = 0;
  bool interrupted = false;     // stop_requested: checkpointed, no final evaluation
  bool stopped_early = false;   // early stopping triggered
  double samples_per_second = 0;   // all ranks together
  int64_t optimizer_state_bytes_per_rank = 0;
  std::optional<tasks::TaskReport> validation;  // of the best model
  std::optional<tasks::TaskReport> test;
  std::string export_dir;       // "" when not exported
};

class Trainer {
 public:
  static Result<std::unique_ptr<Trainer>> Create(TrainerOptions options);
  ~Trainer();

  Result<TrainResult> Run();

  // Parameters and buffers, flattened, for tests that compare runs.
  std::vector<float> FlatParameters() const;

 private:
  struct Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::train
