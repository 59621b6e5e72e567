// GradientReducer: averages gradients across ranks while backward runs, in
// the manner of PyTorch DDP's Reducer. Parameters are grouped into buckets in
// reverse registration order (the order backward produces their gradients),
// the first capped at first_bucket_bytes and the rest at bucket_bytes, so
// every rank builds the same buckets. A hook on each parameter copies its
// gradient into its bucket's flat buffer; when a bucket is full its
// all-reduce is launched at once, overlapping the rest of backward.
// Finish() waits for every bucket and writes the averages into .grad.
//
// Gradient accumulation: Prepare(sync=false) for the micro-batches that only
// accumulate locally, Prepare(sync=true) for the last one, whose hooks reduce
// the accumulated gradient (.grad so far + this micro-batch).
//
// Buckets live on the parameters' device, so on CUDA the all-reduces are
// NCCL's, each ordered after the gradient copies on the stream backward ran
// on. Not thread-safe beyond what backward itself does (hooks run on the
// thread that runs backward for CPU tensors, on the device's autograd thread
// for CUDA tensors; either way one at a time).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/types.h>

#include "common/comm/communicator.h"
#include "common/util/status.h"

namespace chorus::train {

struct ReducerOptions {
  int64_t first_bucket_bytes = 1 << 20;  // like DDP: a small first bucket starts communication early
  int64_t bucket_bytes = 25 << 20;
};

class GradientReducer {
 public:
  GradientReducer(std::vector<torch::Tensor> params, comm::Communicator& comm, ReducerOptions options);
  ~GradientReducer();

  // Call before each backward. step names the collectives in timeout errors.
  void Prepare(bool sync, int64_t step);
  // After the synchronising backward: waits for all buckets (launching any
  // whose parameters got no gradient, with zeros) and sets every .grad.
  Status Finish();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // Parameter indices of bucket b, in the order they sit in its buffer.
  const std::vector<int>& bucket_params(int b) const { return buckets_[b].params; }

 private:
  struct Bucket {
    std::vector<int> params;
    std::vector<int64_t> offsets;  // into buffer, one per parameter
    torch::Tensor buffer;
    int pending = 0;               // parameters not yet ready this backward
    comm::WorkPtr work;
  };
  void OnGradient(int param, const torch::Tensor& grad);
  void Launch(int bucket);

  std::vector<torch::Tensor> params_;
  comm::Communicator& comm_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;     // param -> bucket
  std::vector<int> slot_of_;       // param -> index within its bucket
  std::vector<bool> ready_;
  std::vector<std::pair<int, unsigned>> hooks_;  // (param, hook id)
  bool sync_ = true;
  int64_t step_ = 0;
};

}  // namespace chorus::train
