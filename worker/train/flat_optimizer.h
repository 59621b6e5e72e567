// FlatOptimizer: the job's optimizer (Adam or SGD) run over one flat vector
// holding every parameter, in one of two modes:
//
//   replicated  every rank holds the whole optimizer state; gradients must
//               already be averaged across ranks (GradientReducer) before Step.
//   sharded     ZeRO stage 1: rank r holds state only for its 1/N slice of the
//               flat vector. Step() reduce-scatters the gradients, updates the
//               slice, and all-gathers the parameters.
//
// Adam and SGD are element-wise, so both modes give the same numbers as the
// optimizer applied to each parameter. The checkpointed state (FlatState) is
// always the whole vector, so a run can resume with any number of ranks and
// in either mode. The state lives on the parameters' device (all parameters
// on one device); GatherState returns it there and LoadState accepts it from
// any device. Not thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "common/comm/communicator.h"
#include "common/config/job_spec.h"
#include "common/util/status.h"

namespace torch::optim {
class Optimizer;
}

namespace chorus::train {

// Optimizer state for the whole flat vector, independent of world size.
struct FlatState {
  int64_t step = 0;
  std::map<std::string, torch::Tensor> tensors;  // "exp_avg", "exp_avg_sq" or "momentum_buffer"
};

class FlatOptimizer {
 public:
  // comm may be null (one process). shard: ZeRO-1 (needs comm).
  static Result<std::unique_ptr<FlatOptimizer>> Create(std::vector<torch::Tensor> params,
                                                        const config::OptimizerSpec& spec,
                                                        comm::Communicator* comm, bool shard);
  ~FlatOptimizer();

  // Applies one update with learning rate `lr` from the parameters' .grad.
  // `tag` names the step in collective timeouts.
  Status Step(double lr, const std::string& tag);

  // Whole-vector state (sharded: gathered from every rank; a collective, so
  // every rank must call it).
  Result<FlatState> GatherState(const std::string& tag);
  Status LoadState(const FlatState& state);

  int64_t num_elements() const { return total_; }
  // Bytes of optimizer state this rank holds (for the ZeRO memory report).
  int64_t StateBytesPerRank() const;
  bool sharded() const { return shard_; }

 private:
  FlatOptimizer() = default;
  void FlattenGrads(torch::Tensor out) const;
  void ScatterToParams(const torch::Tensor& flat) const;
  std::vector<std::string> StateNames() const;
  torch::Tensor& StateTensor(const std::string& name);

  std::vector<torch::Tensor> params_;
  config::OptimizerSpec spec_;
  comm::Communicator* comm_ = nullptr;
  bool shard_ = false;
  int64_t total_ = 0;     // real elements
  int64_t padded_ = 0;    // multiple of world size (sharded)
  int64_t chunk_ = 0;     // elements this rank updates
  int64_t offset_ = 0;    // where this rank's slice starts
  torch::TensorOptions options_;  // float32 on the parameters' device
  torch::Tensor local_;   // the slice this optimizer updates (a leaf with .grad)
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

}  // namespace chorus::train
