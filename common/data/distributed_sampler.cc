#include "common/data/distributed_sampler.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <string>

namespace chorus::data {

Result<DistributedSampler> DistributedSampler::Create(const SamplerOptions& options) {
  if (options.world_size < 1) {
    return InvalidArgument("distributed sampler: world_size must be >= 1, got " + std::to_string(options.world_size));
  }
  if (options.rank < 0 || options.rank >= options.world_size) {
    return InvalidArgument("distributed sampler: rank must be in [0, " + std::to_string(options.world_size) +
                           "), got " + std::to_string(options.rank));
  }
  if (options.dataset_size < 0) {
    return InvalidArgument("distributed sampler: dataset_size must be >= 0, got " +
                           std::to_string(options.dataset_size));
  }
  return DistributedSampler(options);
}

int64_t DistributedSampler::NumSamples() const {
  const int64_t n = options_.dataset_size;
  const int64_t world = options_.world_size;
  // PyTorch: drop_last and N % world != 0 -> ceil((N - world) / world), which is
  // floor(N / world) (0 when N < world); otherwise ceil(N / world).
  if (options_.drop_last && n % world != 0) return n / world;
  return (n + world - 1) / world;
}

std::vector<int64_t> DistributedSampler::Indices() const {
  const int64_t n = options_.dataset_size;
  const int64_t world = options_.world_size;
  std::vector<int64_t> indices;
  indices.reserve(static_cast<size_t>(n));
  if (options_.shuffle && n > 0) {
    // g = torch.Generator(); g.manual_seed(seed + epoch); torch.randperm(n, generator=g)
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(options_.seed + static_cast<uint64_t>(epoch_));
    torch::Tensor perm = torch::randperm(n, gen, torch::TensorOptions().dtype(torch::kInt64));
    const int64_t* p = perm.data_ptr<int64_t>();
    indices.assign(p, p + n);
  } else {
    for (int64_t i = 0; i < n; ++i) indices.push_back(i);
  }

  const int64_t num_samples = NumSamples();
  const int64_t total_size = num_samples * world;
  if (!options_.drop_last) {
    // Pad by repeating the head of the list (the whole list as often as needed).
    const int64_t padding = total_size - n;
    for (int64_t i = 0; i < padding && n > 0; ++i) indices.push_back(indices[static_cast<size_t>(i % n)]);
  } else {
    indices.resize(static_cast<size_t>(total_size));
  }

  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(num_samples));
  for (int64_t i = options_.rank; i < total_size; i += world) out.push_back(indices[static_cast<size_t>(i)]);
  return out;
}

}  // namespace chorus::data
