// DistributedSampler with the exact semantics of PyTorch's
// torch.utils.data.DistributedSampler:
//   indices = randperm(N, generator seeded with seed + epoch) if shuffle else 0..N-1
//   drop_last: truncate to world * floor(N / world)
//   otherwise: pad by repeating the head of the list up to world * ceil(N / world)
//   rank r takes indices[r :: world]
// The permutation comes from LibTorch's randperm on a CPU generator, so it is
// the same list Python's sampler produces for the same seed and epoch.
// Not thread-safe (SetEpoch mutates); cheap to copy.
#pragma once

#include <cstdint>
#include <vector>

#include "common/util/status.h"

namespace chorus::data {

struct SamplerOptions {
  int64_t dataset_size = 0;
  int world_size = 1;
  int rank = 0;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;
};

class DistributedSampler {
 public:
  // Fails on world_size < 1, rank outside [0, world_size), negative size.
  static Result<DistributedSampler> Create(const SamplerOptions& options);

  void SetEpoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }

  // This rank's indices for the current epoch, in order.
  std::vector<int64_t> Indices() const;
  int64_t NumSamples() const;  // per rank
  const SamplerOptions& options() const { return options_; }

 private:
  explicit DistributedSampler(SamplerOptions options) : options_(options) {}
  SamplerOptions options_;
  int64_t epoch_ = 0;
};

}  // namespace chorus::data
