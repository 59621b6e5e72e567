#include "worker/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "common/audio/augment.h"
#include "common/audio/features.h"
#include "common/data/distributed_sampler.h"
#include "common/models/model.h"
#include "common/models/model_bundle.h"
#include "common/util/fs.h"
#include "worker/train/batch_loader.h"
#include "worker/train/checkpoint.h"
#include "worker/train/clip_set.h"
#include "worker/train/dataset_from_spec.h"
#include "worker/train/lr_schedule.h"

namespace chorus::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const config::OptimizerSpec& o, models::Model& model) {
  if (o.kind == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        model.parameters(),
        torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov).weight_decay(o.weight_decay));
  }
  return std::make_unique<torch::optim::Adam>(model.parameters(),
                                              torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
}

}  // namespace

struct Trainer::Impl {
  TrainerOptions options;
  const config::TrainJobSpec& spec = options.spec;
  LogProgressReporter default_reporter;
  ProgressReporter* reporter = nullptr;

  data::DatasetSplit split;
  std::optional<audio::FeatureExtractor> extractor;
  std::unique_ptr<audio::Augmenter> augmenter;
  ClipSet train, validation, test;
  models::ModelPtr model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::unique_ptr<CheckpointStore> checkpoints;
  TrainerState state;
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  std::string best_weights_path;
  // Evaluation batches are deterministic (no augmentation, seeded silence),
  // so their features are computed once per split.
  std::map<const ClipSet*, std::vector<Batch>> eval_batches;

  explicit Impl(TrainerOptions o) : options(std::move(o)) {
    reporter = options.reporter ? options.reporter : &default_reporter;
  }

  Status Setup();
  Result<TrainResult> Run();
  Result<models::EvalReport> Evaluate(const ClipSet& clips);
  Status SaveBestWeights();
  Status LoadBestWeights();
  void AppendMetrics(const nlohmann::json& line);
};

Status Trainer::Impl::Setup() {
  const auto t0 = Clock::now();
  const int sample_rate = spec.features.sample_rate;
  if (spec.training.threads > 0) torch::set_num_threads(spec.training.threads);
  torch::manual_seed(spec.training.seed);

  ASSIGN_OR_RETURN(split, LoadDatasetFromSpec(spec.dataset, spec.training.seed));
  ASSIGN_OR_RETURN(audio::FeatureExtractor fx, audio::FeatureExtractor::Create(spec.features));
  extractor.emplace(std::move(fx));

  const int64_t clip_samples = std::llround(spec.dataset.clip_seconds * sample_rate);
  const int io_threads = std::max(2, spec.training.loader_threads);
  ASSIGN_OR_RETURN(train, LoadClips(split.train, sample_rate, clip_samples, io_threads));
  ASSIGN_OR_RETURN(validation, LoadClips(split.validation, sample_rate, clip_samples, io_threads));
  ASSIGN_OR_RETURN(test, LoadClips(split.test, sample_rate, clip_samples, io_threads));
  ASSIGN_OR_RETURN(std::vector<audio::Waveform> noises, LoadNoise(split.noise_files, sample_rate));
  augmenter = std::make_unique<audio::Augmenter>(spec.augment, std::move(noises), sample_rate);
  spdlog::info("dataset {}: {} classes, {} train / {} validation / {} test clips, {} noise files ({:.1f} s)",
               spec.dataset.root, split.labels.size(), train.size(), validation.size(), test.size(),
               split.noise_files.size(), SecondsSince(t0));

  models::InputShape shape;
  shape.frames = extractor->NumFrames(clip_samples);
  shape.bins = extractor->NumBins();
  shape.num_classes = static_cast<int64_t>(split.labels.size());
  ASSIGN_OR_RETURN(model, models::CreateModel(spec.model, shape));
  optimizer = MakeOptimizer(spec.optimizer, *model);
  spdlog::info("model {}: {} parameters, input {} frames x {} bins", spec.model.name,
               models::CountParameters(*model), shape.frames, shape.bins);

  steps_per_epoch = train.size() / spec.training.batch_size;
  if (steps_per_epoch == 0) {
    return InvalidArgument(spec.source_file + ": training.batch_size " + std::to_string(spec.training.batch_size) +
                           " is larger than the training set (" + std::to_string(train.size()) + " clips)");
  }
  total_steps = spec.training.max_steps > 0 ? spec.training.max_steps : steps_per_epoch * spec.training.epochs;

  RETURN_IF_ERROR(MakeDirs(spec.output.dir));
  best_weights_path = (fs::path(spec.output.dir) / "best-model.pt").string();
  checkpoints = std::make_unique<CheckpointStore>((fs::path(spec.output.dir) / "checkpoints").string(),
                                                  spec.training.keep_checkpoints);
  if (options.resume) {
    ASSIGN_OR_RETURN(std::optional<std::string> latest, checkpoints->Latest());
    if (latest) {
      RETURN_IF_ERROR(CheckpointStore::Load(*latest, &state, *model, *optimizer));
      spdlog::info("resumed from {} at step {} (epoch {}, batch {})", *latest, state.step, state.epoch,
                   state.batch_in_epoch);
    }
  }
  return Status::Ok();
}

void Trainer::Impl::AppendMetrics(const nlohmann::json& line) {
  std::ofstream out((fs::path(spec.output.dir) / "metrics.jsonl").string(), std::ios::app);
  out << line.dump() << "\n";
}

Result<models::EvalReport> Trainer::Impl::Evaluate(const ClipSet& clips) {
  auto cached = eval_batches.find(&clips);
  if (cached == eval_batches.end()) {
    BatchLoaderOptions lo;
    lo.batch_size = 256;
    lo.drop_last = false;
    lo.augment = false;
    lo.seed = spec.training.seed ^ 0x5eed;
    lo.silence_volume_max = static_cast<float>(spec.augment.noise_volume_max);
    BatchLoader loader(clips, *extractor, *augmenter, lo);
    std::vector<int64_t> order(clips.size());
    std::iota(order.begin(), order.end(), 0);
    std::vector<Batch> batches;
    for (int64_t b = 0; b < loader.NumBatches(clips.size()); ++b) {
      ASSIGN_OR_RETURN(Batch batch, loader.MakeBatch(0, order, b));
      batches.push_back(std::move(batch));
    }
    cached = eval_batches.emplace(&clips, std::move(batches)).first;
  }
  models::ConfusionMatrix matrix(split.labels);
  torch::NoGradGuard no_grad;
  model->eval();
  double loss_sum = 0;
  for (const Batch& batch : cached->second) {
    torch::Tensor logits = model->forward(batch.features);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, batch.labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    torch::Tensor predicted = logits.argmax(1);
    auto p = predicted.accessor<int64_t, 1>();
    auto a = batch.labels.accessor<int64_t, 1>();
    for (int64_t i = 0; i < predicted.size(0); ++i) matrix.Add(static_cast<int>(a[i]), static_cast<int>(p[i]));
  }
  model->train();
  return models::MakeReport(matrix, clips.size() ? loss_sum / clips.size() : 0.0);
}

Status Trainer::Impl::SaveBestWeights() {
  return AtomicWriteWith(best_weights_path, [&](const std::string& tmp) -> Status {
    try {
      torch::serialize::OutputArchive archive;
      model->save(archive);
      archive.save_to(tmp);
    } catch (const c10::Error& e) {
      return IoError(tmp + ": " + e.what_without_backtrace());
    }
    return Status::Ok();
  });
}

Status Trainer::Impl::LoadBestWeights() {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(best_weights_path);
    model->load(archive);
  } catch (const c10::Error& e) {
    return Corruption(best_weights_path + ": " + e.what_without_backtrace());
  }
  return Status::Ok();
}

Result<TrainResult> Trainer::Impl::Run() {
  TrainResult result;
  data::SamplerOptions so;
  so.dataset_size = train.size();
  so.seed = spec.training.seed;
  ASSIGN_OR_RETURN(data::DistributedSampler sampler, data::DistributedSampler::Create(so));

  BatchLoaderOptions lo;
  lo.batch_size = spec.training.batch_size;
  lo.augment = spec.augment_enabled;
  lo.seed = spec.training.seed;
  lo.threads = spec.training.loader_threads;
  lo.silence_volume_max = static_cast<float>(spec.augment.noise_volume_max);
  BatchLoader loader(train, *extractor, *augmenter, lo);

  const int64_t eval_every = spec.training.eval_every_steps > 0 ? spec.training.eval_every_steps : steps_per_epoch;
  const int64_t ckpt_every =
      spec.training.checkpoint_every_steps > 0 ? spec.training.checkpoint_every_steps : steps_per_epoch;
  const bool has_validation = validation.size() > 0;
  const auto run_start = Clock::now();
  const int64_t start_step = state.step;
  auto window_start = Clock::now();
  double window_loss = 0;
  int64_t window_correct = 0, window_samples = 0, window_steps = 0;
  torch::nn::functional::CrossEntropyFuncOptions ce;
  ce.label_smoothing(spec.training.label_smoothing);

  auto checkpoint = [&]() -> Status {
    RETURN_IF_ERROR(checkpoints->Save(state, *model, *optimizer));
    const std::string path = (fs::path(checkpoints->dir()) / ("ckpt-" + std::to_string(state.step) + ".pt")).string();
    reporter->OnCheckpoint(state.step, path);
    AppendMetrics({{"event", "checkpoint"}, {"step", state.step}, {"path", path}});
    return Status::Ok();
  };

  bool done = state.step >= total_steps;
  while (!done) {
    sampler.SetEpoch(state.epoch);
    loader.StartEpoch(state.epoch, sampler.Indices(), state.batch_in_epoch);
    while (!done) {
      ASSIGN_OR_RETURN(std::optional<Batch> next, loader.Next());
      if (!next) break;
      const double lr = LearningRateAt(spec.schedule, spec.optimizer.lr, state.step, total_steps);
      for (auto& group : optimizer->param_groups()) group.options().set_lr(lr);

      torch::Tensor logits = model->forward(next->features);
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits, next->labels, ce);
      optimizer->zero_grad();
      loss.backward();
      optimizer->step();

      ++state.step;
      state.batch_in_epoch = next->index + 1;
      state.samples_seen += next->labels.size(0);
      window_loss += loss.item<double>();
      window_correct += logits.argmax(1).eq(next->labels).sum().item<int64_t>();
      window_samples += next->labels.size(0);
      ++window_steps;

      if (state.step % options.log_every_steps == 0 || state.step == total_steps) {
        StepProgress p;
        p.step = state.step;
        p.total_steps = total_steps;
        p.epoch = state.epoch;
        p.loss = window_loss / window_steps;
        p.accuracy = static_cast<double>(window_correct) / window_samples;
        p.learning_rate = lr;
        p.samples_per_second = window_samples / std::max(1e-9, SecondsSince(window_start));
        const double per_step = SecondsSince(run_start) / std::max<int64_t>(1, state.step - start_step);
        p.eta_seconds = per_step * (total_steps - state.step);
        reporter->OnStep(p);
        AppendMetrics({{"event", "step"}, {"step", p.step}, {"epoch", p.epoch}, {"loss", p.loss},
                       {"accuracy", p.accuracy}, {"lr", lr}, {"samples_per_second", p.samples_per_second}});
        window_start = Clock::now();
        window_loss = 0;
        window_correct = window_samples = window_steps = 0;
      }

      const bool end_of_epoch = state.batch_in_epoch >= steps_per_epoch;
      if (end_of_epoch) {
        ++state.epoch;
        state.batch_in_epoch = 0;
      }
      if (state.step >= total_steps) done = true;

      if (has_validation && (state.step % eval_every == 0 || done)) {
        ASSIGN_OR_RETURN(models::EvalReport report, Evaluate(validation));
        reporter->OnEvaluation(state.step, "validation", report);
        AppendMetrics({{"event", "eval"}, {"split", "validation"}, {"step", state.step},
                       {"accuracy", report.accuracy}, {"loss", report.loss}});
        if (report.accuracy > state.best_metric) {
          state.best_metric = report.accuracy;
          state.best_step = state.step;
          state.evals_since_best = 0;
          RETURN_IF_ERROR(SaveBestWeights());
        } else if (++state.evals_since_best >= spec.training.early_stopping_patience &&
                   spec.training.early_stopping_patience > 0) {
          spdlog::info("early stopping at step {}: no improvement for {} evaluations (best {:.4f} at step {})",
                       state.step, state.evals_since_best, state.best_metric, state.best_step);
          result.stopped_early = true;
          done = true;
        }
      }
      if (state.step % ckpt_every == 0 || done) RETURN_IF_ERROR(checkpoint());
      if (options.stop_requested && options.stop_requested->load()) {
        if (state.step % ckpt_every != 0 && !done) RETURN_IF_ERROR(checkpoint());
        spdlog::warn("stop requested: checkpointed at step {}", state.step);
        result.interrupted = true;
        result.steps = state.step;
        return result;
      }
      if (end_of_epoch) break;
    }
  }
  result.steps = state.step;
  const double elapsed = SecondsSince(run_start);
  result.samples_per_second =
      state.step > start_step ? (state.step - start_step) * spec.training.batch_size / std::max(1e-9, elapsed) : 0;

  if (has_validation && fs::exists(best_weights_path)) {
    RETURN_IF_ERROR(LoadBestWeights());
    spdlog::info("using the best validation model: accuracy {:.4f} at step {}", state.best_metric, state.best_step);
    ASSIGN_OR_RETURN(models::EvalReport v, Evaluate(validation));
    result.validation = v;
  }
  if (test.size() > 0) {
    ASSIGN_OR_RETURN(models::EvalReport t, Evaluate(test));
    reporter->OnEvaluation(state.step, "test", t);
    result.test = t;
  }
  nlohmann::json eval = {{"job", spec.name}, {"steps", state.step}};
  if (result.validation) eval["validation"] = result.validation->ToJson();
  if (result.test) eval["test"] = result.test->ToJson();
  RETURN_IF_ERROR(AtomicWriteFile((fs::path(spec.output.dir) / "eval.json").string(), eval.dump(2) + "\n"));

  if (!spec.output.model_repository.empty()) {
    models::ModelMetadata meta;
    meta.name = spec.output.model_name;
    meta.model = spec.model;
    meta.shape.frames = extractor->NumFrames(train.clip_samples);
    meta.shape.bins = extractor->NumBins();
    meta.shape.num_classes = static_cast<int64_t>(split.labels.size());
    meta.features = spec.features;
    meta.labels = split.labels;
    meta.clip_seconds = spec.dataset.clip_seconds;
    meta.source_job = spec.source_file.empty() ? spec.name : spec.source_file;
    if (result.test) meta.metrics["test_accuracy"] = result.test->accuracy;
    if (result.validation) meta.metrics["validation_accuracy"] = result.validation->accuracy;
    model->eval();
    ASSIGN_OR_RETURN(result.export_dir, models::ExportModel(*model, meta, spec.output.model_repository));
    model->train();
    spdlog::info("exported model to {}", result.export_dir);
  }
  return result;
}

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Trainer::~Trainer() = default;

Result<std::unique_ptr<Trainer>> Trainer::Create(TrainerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  try {
    RETURN_IF_ERROR(impl->Setup());
  } catch (const c10::Error& e) {
    return Internal(std::string("setting up training: ") + e.what_without_backtrace());
  }
  return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
}

Result<TrainResult> Trainer::Run() {
  try {
    return impl_->Run();
  } catch (const c10::Error& e) {
    return Internal(std::string("training: ") + e.what_without_backtrace());
  }
}

std::vector<float> Trainer::FlatParameters() const {
  std::vector<float> flat;
  for (const auto& p : impl_->model->parameters()) {
    torch::Tensor c = p.detach().contiguous().to(torch::kFloat32).view(-1);
    flat.insert(flat.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  for (const auto& b : impl_->model->buffers()) {
    if (!b.is_floating_point()) continue;
    torch::Tensor c = b.detach().contiguous().to(torch::kFloat32).view(-1);
    flat.insert(flat.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return flat;
}

}  // namespace chorus::train
