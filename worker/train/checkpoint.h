// Training checkpoints: one LibTorch archive per checkpoint holding the model,
// the optimizer state over the whole flat parameter vector (FlatState: the
// same whatever the number of ranks or sharding), LibTorch's CPU RNG state
// (and the GPU's, when the model is on one) and the TrainerState (step, epoch, position in the epoch, early-stopping
// bookkeeping). Written atomically as DIR/ckpt-<step>.pt, then DIR/latest is
// atomically pointed at it, then older checkpoints beyond `keep` are removed;
// a crash at any point leaves a loadable latest checkpoint. Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/models/model.h"
#include "common/util/status.h"
#include "worker/train/flat_optimizer.h"

namespace chorus::train {

struct TrainerState {
  int64_t step = 0;            // optimizer steps taken
  int64_t epoch = 0;           // current epoch
  int64_t batch_in_epoch = 0;  // batches of `epoch` already consumed
  double best_metric = -1.0;   // best validation accuracy so far
  int64_t best_step = -1;
  int evals_since_best = 0;
  int64_t samples_seen = 0;

  nlohmann::json ToJson() const;
  static Result<TrainerState> FromJson(const nlohmann::json& j);
};

class CheckpointStore {
 public:
  CheckpointStore(std::string dir, int keep) : dir_(std::move(dir)), keep_(keep) {}

  // Returns the path written.
  Result<std::string> Save(const TrainerState& state, models::Model& model, const FlatState& optimizer);

  // Path of the newest checkpoint, or nullopt when there is none.
  Result<std::optional<std::string>> Latest() const;

  // Restores everything Save wrote, with every tensor on `device` (the
  // model's): a checkpoint written on a GPU resumes on the CPU and the
  // reverse. The GPU's RNG state is restored only when both runs are on CUDA.
  // The model must have the architecture of the run that wrote it; otherwise
  // a Corruption status.
  static Status Load(const std::string& path, c10::Device device, TrainerState* state, models::Model& model,
                     FlatState* optimizer);

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int keep_;
};

}  // namespace chorus::train
