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
                         const audio::Augmenter& augmenter, const tasks::Task& task, BatchLoaderOptions options)
    : clips_(clips), extractor_(extractor), augmenter_(augmenter), task_(task), options_(options) {}

BatchLoader::~BatchLoader() { StopWorkers(); }

int64_t BatchLoader::NumBatches(int64_t n) const {
  const int64_t b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

Result<Batch> BatchLoader::MakeBatch(int64_t epoch, const std::vector<int64_t>& order, int64_t batch_index) const {
  const int64_t begin = batch_index * options_.batch_size;
  const int64_t end = std::min<int64_t>(begin + options_.batch_size, static_cast<int64_t>(order.size()));
  const int rate = extractor_.options().sample_rate;
  const double hop_seconds = static_cast<double>(extractor_.hop_length()) / rate;
  const double window_seconds = static_cast<double>(extractor_.window_length()) / rate;
  const bool recordings = task_.whole_recordings();
  const bool augment = options_.augment && !recordings;
  std::vector<at::Tensor> features, targets;
  std::vector<float> wave;
  for (int64_t pos = begin; pos < end; ++pos) {
    const int64_t example = order[pos];
    // Keyed by the example, not its position: the same example gets the same
    // augmentation in an epoch whichever rank (and world size) reads it.
    std::mt19937_64 rng(Mix(Mix(options_.seed) ^ Mix(static_cast<uint64_t>(epoch) * 0x100000001b3ULL +
                                                     static_cast<uint64_t>(example))));
    ASSIGN_OR_RETURN(const std::vector<float>* clip, clips_.Get(example));
    double offset_seconds = 0;
    if (clips_.is_silence(example)) {
      wave.assign(clips_.clip_samples(), 0.0f);
      std::uniform_real_distribution<float> volume(0.0f, options_.silence_volume_max);
      augmenter_.MixNoise(wave, volume(rng), rng);
    } else if (recordings && options_.crop_seconds > 0 &&
               static_cast<double>(clip->size()) > options_.crop_seconds * rate) {
      // A crop starting on a frame boundary, so its frames are the recording's.
      const int64_t hop = extractor_.hop_length();
      const int64_t length = std::llround(options_.crop_seconds * rate);
      const int64_t starts = (static_cast<int64_t>(clip->size()) - length) / hop + 1;
      const int64_t start = std::uniform_int_distribution<int64_t>(0, starts - 1)(rng) * hop;
      wave.assign(clip->begin() + start, clip->begin() + start + length);
      offset_seconds = static_cast<double>(start) / rate;
    } else {
      wave = *clip;
      if (augment) augmenter_.ApplyToWave(wave, rng);
    }
    if (static_cast<int64_t>(wave.size()) < extractor_.window_length()) {
      return InvalidArgument(clips_.example(example).path + ": " + std::to_string(wave.size()) +
                             " samples, shorter than one frame of " + std::to_string(extractor_.window_length()));
    }
    Result<at::Tensor> f = extractor_.Compute(wave);
    if (!f.ok()) return f.status().WithContext("example " + std::to_string(example));
    if (augment) augmenter_.ApplyToFeatures(*f, rng);
    targets.push_back(
        task_.ExampleTargets(clips_.example(example), offset_seconds, f->size(0), hop_seconds, window_seconds));
    features.push_back(std::move(*f));
  }
  int64_t frames = 0;
  for (const auto& f : features) frames = std::max(frames, f.size(0));
  Batch batch;
  batch.index = batch_index;
  batch.features = torch::zeros({end - begin, frames, extractor_.NumBins()},
                                torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(options_.pin_memory));
  for (size_t i = 0; i < features.size(); ++i)
    batch.features[static_cast<int64_t>(i)].narrow(0, 0, features[i].size(0)).copy_(features[i]);
  batch.targets = task_.Collate(targets, frames, options_.pin_memory);
  batch.targets.index = torch::from_blob(const_cast<int64_t*>(order.data() + begin), {end - begin}, torch::kInt64).clone();
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
