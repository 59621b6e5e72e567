#include "worker/train/batch_loader.h"

#include <torch/torch.h>

namespace chorus::train {
namespace {

// SplitMix64 finaliser: decorrelates nearby (seed, epoch, position) triples.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

BatchLoader::BatchLoader(ClipSet& clips, const audio::FeatureExtractor& extractor,
                         const audio::Augmenter& augmenter, BatchLoaderOptions options)
    : clips_(clips), extractor_(extractor), augmenter_(augmenter), options_(options) {}

BatchLoader::~BatchLoader() { StopWorkers(); }

int64_t BatchLoader::NumBatches(int64_t n) const {
  const int64_t b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

Result<Batch> BatchLoader::MakeBatch(int64_t epoch, const std::vector<int64_t>& order, int64_t batch_index) const {
  const int64_t begin = batch_index * options_.batch_size;
  const int64_t end = std::min<int64_t>(begin + options_.batch_size, static_cast<int64_t>(order.size()));
  const int64_t frames = extractor_.NumFrames(clips_.clip_samples());
  Batch batch;
  batch.index = batch_index;
  const auto host = torch::TensorOptions().pinned_memory(options_.pin_memory);
  batch.features = torch::empty({end - begin, frames, extractor_.NumBins()}, host.dtype(torch::kFloat32));
  batch.labels = torch::empty({end - begin}, host.dtype(torch::kInt64));
  auto labels = batch.labels.accessor<int64_t, 1>();
  std::vector<float> wave;
  for (int64_t pos = begin; pos < end; ++pos) {
    const int64_t example = order[pos];
    // Keyed by the example, not its position: the same example gets the same
    // augmentation in an epoch whichever rank (and world size) reads it.
    std::mt19937_64 rng(Mix(Mix(options_.seed) ^ Mix(static_cast<uint64_t>(epoch) * 0x100000001b3ULL +
                                                     static_cast<uint64_t>(example))));
    ASSIGN_OR_RETURN(const std::vector<float>* clip, clips_.Get(example));
    if (clips_.is_silence(example)) {
      wave.assign(clips_.clip_samples(), 0.0f);
      std::uniform_real_distribution<float> volume(0.0f, options_.silence_volume_max);
      augmenter_.MixNoise(wave, volume(rng), rng);
    } else {
      wave = *clip;
      if (options_.augment) augmenter_.ApplyToWave(wave, rng);
    }
    Result<at::Tensor> features = extractor_.Compute(wave);
    if (!features.ok()) return features.status().WithContext("example " + std::to_string(example));
    at::Tensor f = *features;
    if (options_.augment) augmenter_.ApplyToFeatures(f, rng);
    batch.features[pos - begin].copy_(f);
    labels[pos - begin] = clips_.label(example);
  }
  return batch;
}

void BatchLoader::StartEpoch(int64_t epoch, std::vector<int64_t> order, int64_t first_batch) {
  StopWorkers();
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = false;
  ++generation_;
  epoch_ = epoch;
  order_ = std::move(order);
  num_batches_ = NumBatches(static_cast<int64_t>(order_.size()));
  next_to_claim_ = first_batch;
  next_to_return_ = first_batch;
  ready_.clear();
  for (int t = 0; t < std::max(1, options_.threads); ++t) {
    workers_.emplace_back(&BatchLoader::WorkerLoop, this, generation_);
  }
}

void BatchLoader::WorkerLoop(uint64_t generation) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] {
      return stopping_ || generation != generation_ || next_to_claim_ >= num_batches_ ||
             next_to_claim_ < next_to_return_ + options_.prefetch;
    });
    if (stopping_ || generation != generation_ || next_to_claim_ >= num_batches_) return;
    const int64_t index = next_to_claim_++;
    const int64_t epoch = epoch_;
    lock.unlock();
    Result<Batch> batch = MakeBatch(epoch, order_, index);
    lock.lock();
    if (generation != generation_) return;
    ready_.emplace(index, std::move(batch));
    cv_.notify_all();
  }
}

Result<std::optional<Batch>> BatchLoader::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (next_to_return_ >= num_batches_) return std::optional<Batch>();
  const int64_t want = next_to_return_;
  cv_.wait(lock, [&] { return ready_.count(want) > 0; });
  auto node = ready_.extract(want);
  ++next_to_return_;
  cv_.notify_all();
  Result<Batch> batch = std::move(node.mapped());
  if (!batch.ok()) return batch.status();
  return std::optional<Batch>(std::move(batch).value());
}

void BatchLoader::StopWorkers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  for (auto& t : workers_) t.join();
  workers_.clear();
}

}  // namespace chorus::train
