#include "worker/train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "common/audio/augment.h"
#include "common/audio/features.h"
#include "common/data/distributed_sampler.h"
#include "common/models/device.h"
#include "common/models/model.h"
#include "common/models/threads.h"
#include "common/tasks/task_options.h"
#include "common/util/fs.h"
#include "worker/train/batch_loader.h"
#include "worker/train/checkpoint.h"
#include "worker/train/clip_set.h"
#include "worker/train/dataset_from_spec.h"
#include "worker/train/evaluator.h"
#include "worker/train/exporter.h"
#include "worker/train/flat_optimizer.h"
#include "worker/train/gradient_reducer.h"
#include "worker/train/lr_schedule.h"
#include "worker/train/model_sync.h"
#include "worker/train/train_step.h"
#include "worker/train/training_plots.h"

namespace chorus::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Reports nothing: ranks other than 0 stay quiet.
class SilentReporter : public ProgressReporter {
 public:
  void OnStep(const StepProgress&) override {}
  void OnEvaluation(int64_t, const std::string&, const tasks::TaskReport&) override {}
  void OnCheckpoint(int64_t, const std::string&) override {}
};

}  // namespace

struct Trainer::Impl {
  TrainerOptions options;
  const config::TrainJobSpec& spec = options.spec;
  LogProgressReporter log_reporter;
  SilentReporter silent_reporter;
  ProgressReporter* reporter = nullptr;
  comm::Communicator* comm = nullptr;
  int rank = 0;
  int world = 1;

  data::DatasetSplit split;
  std::unique_ptr<tasks::Task> task;
  c10::Device device = c10::Device(c10::kCPU);
  std::optional<audio::FeatureExtractor> extractor;
  std::unique_ptr<audio::Augmenter> augmenter;
  std::unique_ptr<ClipSet> train, validation, test;
  std::unique_ptr<Evaluator> validation_eval, test_eval;
  models::InputShape shape;
  models::ModelPtr model;
  std::unique_ptr<FlatOptimizer> optimizer;
  std::unique_ptr<GradientReducer> reducer;
  std::unique_ptr<CheckpointStore> checkpoints;
  TrainerState state;
  std::optional<data::DistributedSampler> sampler;
  int64_t batches_per_epoch = 0;  // micro-batches of this rank's shard
  int64_t steps_per_epoch = 0;    // optimizer steps
  int64_t total_steps = 0;
  std::string best_weights_path;

  explicit Impl(TrainerOptions o) : options(std::move(o)) {
    comm = options.comm;
    if (comm) {
      rank = comm->rank();
      world = comm->world_size();
    }
    reporter = rank != 0 ? &silent_reporter : options.reporter ? options.reporter : &log_reporter;
  }
  bool distributed() const { return comm && world > 1; }

  Status Setup();
  Result<TrainResult> Run();
  Result<tasks::TaskReport> Evaluate(Evaluator& evaluator, const std::string& tag);
  std::unique_ptr<Evaluator> MakeEvaluator(ClipSet& clips, std::vector<data::Trial> trials) const;
  Status SaveBestWeights();
  Status LoadBestWeights();
  Status Checkpoint();
  Status SyncBuffers(const std::string& tag) { return BroadcastBuffers(*model, *comm, tag); }
  void AppendMetrics(const nlohmann::json& line);
  // A failed collective ends the whole job: the other ranks would wait forever.
  Status Collective(Status st) {
    if (!st.ok() && distributed()) comm->Abort(st);
    return st;
  }
};

Status Trainer::Impl::Setup() {
  const auto t0 = Clock::now();
  const int sample_rate = spec.features.sample_rate;
  ASSIGN_OR_RETURN(device, models::ResolveDevice(spec.training.device, options.local_rank));
  if (device.is_cuda()) {
    models::SetCudaDeterministic(spec.training.deterministic);
    if (distributed() && comm->backend() != "nccl") {
      return FailedPrecondition("training on " + device.str() + " with " + std::to_string(world) +
                                " ranks needs the NCCL communicator, got " + comm->backend());
    }
  }
  if (spec.training.sharding == "optimizer" && !comm) {
    spdlog::info("sharding: optimizer with one process is the same as no sharding");
  }
  models::SetComputeThreads(spec.training.threads);
  torch::manual_seed(spec.training.seed);

  ASSIGN_OR_RETURN(split, LoadDatasetFromSpec(spec.dataset, spec.training.seed));
  ASSIGN_OR_RETURN(task, tasks::Task::Create(spec.task, split.labels, tasks::TaskOptionsFromJob(spec)));
  ASSIGN_OR_RETURN(audio::FeatureExtractor fx, audio::FeatureExtractor::Create(spec.features));
  extractor.emplace(std::move(fx));

  // Clips are fitted to clip_seconds; recordings are kept whole (and cropped for training).
  const int64_t clip_samples = std::llround(spec.dataset.clip_seconds * sample_rate);
  const int64_t kept_samples = task->whole_recordings() ? 0 : clip_samples;
  train = std::make_unique<ClipSet>(split.train, sample_rate, kept_samples);
  validation = std::make_unique<ClipSet>(split.validation, sample_rate, kept_samples);
  test = std::make_unique<ClipSet>(split.test, sample_rate, kept_samples);
  ASSIGN_OR_RETURN(std::vector<audio::Waveform> noises, LoadNoise(split.noise_files, sample_rate));
  augmenter = std::make_unique<audio::Augmenter>(spec.augment, std::move(noises), sample_rate);

  const double model_seconds =
      task->whole_recordings() && spec.dataset.crop_seconds > 0 ? spec.dataset.crop_seconds : spec.dataset.clip_seconds;
  shape.frames = extractor->NumFrames(std::llround(model_seconds * sample_rate));
  shape.bins = extractor->NumBins();
  shape.num_classes = task->num_outputs();
  const tasks::OutputKind made = models::IsPerFrameModel(spec.model.name)    ? tasks::OutputKind::kPerFrame
                                 : models::IsEmbeddingModel(spec.model.name) ? tasks::OutputKind::kEmbedding
                                                                             : tasks::OutputKind::kPerClip;
  if (made != task->output_kind()) {
    return InvalidArgument((spec.source_file.empty() ? spec.name : spec.source_file) + ": model " + spec.model.name +
                           " gives " + tasks::OutputKindName(made) +
                           ", but task " + task->name() + " needs " + tasks::OutputKindName(task->output_kind()));
  }
  ASSIGN_OR_RETURN(model, models::CreateModel(spec.model, shape));
  model->to(device);  // before anything holds its parameters
  validation_eval = MakeEvaluator(*validation, split.validation_trials);
  test_eval = MakeEvaluator(*test, split.test_trials);
  if (distributed() && spec.training.sharding != "optimizer") {  // ZeRO-1 reduce-scatters in its Step instead
    ReducerOptions ro;
    ro.first_bucket_bytes = static_cast<int64_t>(spec.training.first_bucket_mb * (1 << 20));
    ro.bucket_bytes = static_cast<int64_t>(spec.training.bucket_mb * (1 << 20));
    reducer = std::make_unique<GradientReducer>(model->parameters(), *comm, ro);
  }

  data::SamplerOptions so;
  so.dataset_size = train->size();
  so.seed = spec.training.seed;
  so.world_size = world;
  so.rank = rank;
  ASSIGN_OR_RETURN(data::DistributedSampler s, data::DistributedSampler::Create(so));
  sampler.emplace(s);
  const int64_t micro = spec.training.batch_size;
  batches_per_epoch = sampler->NumSamples() / micro;
  steps_per_epoch = batches_per_epoch / spec.training.accumulate_steps;
  if (steps_per_epoch == 0) {
    return InvalidArgument(spec.source_file + ": training.batch_size " + std::to_string(micro) + " x accumulate_steps " +
                           std::to_string(spec.training.accumulate_steps) + " x " + std::to_string(world) +
                           " ranks is larger than the training set (" + std::to_string(train->size()) + " clips)");
  }
  total_steps = spec.training.max_steps > 0 ? spec.training.max_steps : steps_per_epoch * spec.training.epochs;

  RETURN_IF_ERROR(MakeDirs(spec.output.dir));
  best_weights_path = (fs::path(spec.output.dir) / "best-model.pt").string();
  checkpoints = std::make_unique<CheckpointStore>((fs::path(spec.output.dir) / "checkpoints").string(),
                                                  spec.training.keep_checkpoints);
  FlatState resumed_optimizer;  // empty unless a checkpoint is loaded
  if (options.resume) {
    ASSIGN_OR_RETURN(std::optional<std::string> latest, checkpoints->Latest());
    if (latest) {
      RETURN_IF_ERROR(CheckpointStore::Load(*latest, device, &state, *model, &resumed_optimizer));
      // Positions are counted in optimizer steps; the rank count may differ
      // from the run that wrote the checkpoint.
      state.batch_in_epoch = std::min(state.batch_in_epoch, steps_per_epoch);
      spdlog::info("resumed from {} at step {} (epoch {}, step {} of the epoch)", *latest, state.step, state.epoch,
                   state.batch_in_epoch);
    }
  }
  // Built after any checkpoint is loaded: its copy of the parameters must be the loaded weights.
  ASSIGN_OR_RETURN(optimizer, FlatOptimizer::Create(model->parameters(), spec.optimizer, comm,
                                                    distributed() && spec.training.sharding == "optimizer"));
  RETURN_IF_ERROR(optimizer->LoadState(resumed_optimizer));
  if (distributed()) RETURN_IF_ERROR(Collective(BroadcastParameters(*model, *comm, "initial parameters")));

  // Decode this rank's first-epoch shard now, so a bad file stops the job
  // before training starts; later epochs decode lazily.
  sampler->SetEpoch(state.epoch);
  RETURN_IF_ERROR(train->Preload(sampler->Indices(), std::max(2, spec.training.loader_threads)));
  if (rank == 0) {
    spdlog::info("dataset {}: {} classes, {} train / {} validation / {} test clips, {} noise files; {} rank(s) ({:.1f} s)",
                 spec.dataset.root, split.labels.size(), train->size(), validation->size(), test->size(),
                 split.noise_files.size(), world, SecondsSince(t0));
    spdlog::info("model {}: {} parameters, input {} frames x {} bins, on {} in {}; optimizer state {:.1f} KiB per rank{}",
                 spec.model.name, models::CountParameters(*model), shape.frames, shape.bins, device.str(),
                 spec.training.precision, optimizer->StateBytesPerRank() / 1024.0,
                 optimizer->sharded() ? " (ZeRO-1 sharded)" : "");
    if (reducer) spdlog::info("gradient buckets: {}", reducer->num_buckets());
  }
  return Status::Ok();
}

void Trainer::Impl::AppendMetrics(const nlohmann::json& line) {
  if (rank != 0) return;
  std::ofstream out((fs::path(spec.output.dir) / "metrics.jsonl").string(), std::ios::app);
  out << line.dump() << "\n";
}

std::unique_ptr<Evaluator> Trainer::Impl::MakeEvaluator(ClipSet& clips, std::vector<data::Trial> trials) const {
  EvaluatorOptions eo;
  eo.trials = std::move(trials);
  eo.batch_size = task->whole_recordings() ? 16 : 256;  // recordings are padded to the longest of their batch
  eo.seed = EvaluationSeed(spec.training.seed);
  eo.silence_volume_max = static_cast<float>(spec.augment.noise_volume_max);
  eo.pin_memory = device.is_cuda();
  eo.rank = rank;
  eo.world_size = world;
  return std::make_unique<Evaluator>(clips, *extractor, *augmenter, *task, eo);
}

Result<tasks::TaskReport> Trainer::Impl::Evaluate(Evaluator& evaluator, const std::string& tag) {
  // Every rank evaluates with rank 0's BatchNorm statistics (each rank's own
  // drift during the step since the last broadcast).
  if (distributed()) RETURN_IF_ERROR(Collective(SyncBuffers(tag + " buffers")));
  Result<tasks::TaskReport> report = evaluator.Run(*model, distributed() ? comm : nullptr, tag);
  RETURN_IF_ERROR(Collective(report.status()));
  return report;
}

Status Trainer::Impl::SaveBestWeights() {
  if (rank != 0) return Status::Ok();
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
    archive.load_from(best_weights_path, device);
    model->load(archive);
  } catch (const c10::Error& e) {
    return Corruption(best_weights_path + ": " + e.what_without_backtrace());
  }
  return Status::Ok();
}

Status Trainer::Impl::Checkpoint() {
  // Gathering sharded optimizer state is a collective: every rank takes part.
  Result<FlatState> flat = optimizer->GatherState("step " + std::to_string(state.step) + " checkpoint");
  RETURN_IF_ERROR(Collective(flat.status()));
  if (rank == 0) {
    ASSIGN_OR_RETURN(std::string path, checkpoints->Save(state, *model, *flat));
    reporter->OnCheckpoint(state.step, path);
    AppendMetrics({{"event", "checkpoint"}, {"step", state.step}, {"path", path}});
  }
  return Status::Ok();
}

Result<TrainResult> Trainer::Impl::Run() {
  TrainResult result;
  result.optimizer_state_bytes_per_rank = optimizer->StateBytesPerRank();
  BatchLoaderOptions lo;
  lo.batch_size = spec.training.batch_size;
  lo.augment = spec.augment_enabled;
  lo.seed = spec.training.seed;
  lo.threads = spec.training.loader_threads;
  lo.silence_volume_max = static_cast<float>(spec.augment.noise_volume_max);
  lo.pin_memory = device.is_cuda();
  lo.crop_seconds = spec.dataset.crop_seconds;
  BatchLoader loader(*train, *extractor, *augmenter, *task, lo);
  StepOptions so;
  so.accumulate_steps = spec.training.accumulate_steps;
  so.bf16 = spec.training.precision == "bf16";
  so.label_smoothing = spec.training.label_smoothing;
  so.mixup_alpha = spec.training.mixup_alpha;
  so.seed = spec.training.seed;
  StepRunner runner(*model, *task, *optimizer, reducer.get(), so);

  const int accumulate = spec.training.accumulate_steps;
  const int64_t eval_every = spec.training.eval_every_steps > 0 ? spec.training.eval_every_steps : steps_per_epoch;
  const int64_t ckpt_every =
      spec.training.checkpoint_every_steps > 0 ? spec.training.checkpoint_every_steps : steps_per_epoch;
  const bool has_validation = validation->size() > 0;
  const auto run_start = Clock::now();
  const int64_t start_step = state.step;
  auto window_start = Clock::now();
  // Loss and the task's right decisions and decisions of the steps since the
  // last progress line: on the device, read once per line (a step does not
  // wait for the GPU).
  torch::Tensor window = torch::zeros({3}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  double window_samples = 0;
  int64_t window_steps = 0;

  bool done = state.step >= total_steps;
  while (!done) {
    sampler->SetEpoch(state.epoch);
    loader.StartEpoch(state.epoch, sampler->Indices(), state.batch_in_epoch * accumulate);
    while (!done) {
      const std::string tag = "step " + std::to_string(state.step + 1);
      if (distributed()) RETURN_IF_ERROR(Collective(SyncBuffers(tag + " buffers")));
      int64_t last_index = -1;
      double samples = 0;
      for (int m = 0; m < accumulate; ++m) {
        ASSIGN_OR_RETURN(std::optional<Batch> next, loader.Next());
        if (!next) return Internal("the loader ran out of batches in the middle of an optimizer step");
        last_index = next->index;
        runner.Accumulate(next->features, next->targets, m, state.step + 1);
        samples += static_cast<double>(next->targets.size());
      }
      const double lr = LearningRateAt(spec.schedule, spec.optimizer.lr, state.step, total_steps);
      RETURN_IF_ERROR(Collective(runner.Apply(lr, tag)));
      bool stop = options.stop_requested && options.stop_requested->load();
      torch::Tensor stats = runner.TakeStats();  // this rank's [loss, right, decisions]
      if (distributed()) {
        // Loss, decisions, samples and the stop flag, summed over ranks.
        torch::Tensor all = torch::cat({stats, torch::tensor({samples, stop ? 1.0 : 0.0}, torch::kFloat64)
                                                   .to(device)});
        RETURN_IF_ERROR(Collective(comm->AllReduce(all, comm::ReduceOp::kSum, tag + " stats")->Wait()));
        const torch::Tensor host = all.cpu();
        const double* h = host.data_ptr<double>();
        stats = torch::tensor({h[0] / world, h[1], h[2]}, torch::kFloat64).to(device);
        samples = h[3];
        stop = h[4] > 0;
      }

      ++state.step;
      state.batch_in_epoch = (last_index + 1) / accumulate;
      state.samples_seen += static_cast<int64_t>(samples);
      window.add_(stats);
      window_samples += samples;
      ++window_steps;

      if (state.step % options.log_every_steps == 0 || state.step == total_steps) {
        const torch::Tensor w = window.cpu();
        StepProgress p;
        p.step = state.step;
        p.total_steps = total_steps;
        p.epoch = state.epoch;
        p.loss = w.data_ptr<double>()[0] / window_steps;
        p.accuracy = w.data_ptr<double>()[1] / std::max(1.0, w.data_ptr<double>()[2]);
        p.learning_rate = lr;
        p.samples_per_second = window_samples / std::max(1e-9, SecondsSince(window_start));
        const double per_step = SecondsSince(run_start) / std::max<int64_t>(1, state.step - start_step);
        p.eta_seconds = per_step * (total_steps - state.step);
        reporter->OnStep(p);
        AppendMetrics({{"event", "step"}, {"step", p.step}, {"epoch", p.epoch}, {"loss", p.loss},
                       {"accuracy", p.accuracy}, {"lr", lr}, {"samples_per_second", p.samples_per_second}});
        window_start = Clock::now();
        window.zero_();
        window_samples = 0;
        window_steps = 0;
      }

      const bool end_of_epoch = state.batch_in_epoch >= steps_per_epoch;
      if (end_of_epoch) {
        ++state.epoch;
        state.batch_in_epoch = 0;
      }
      if (state.step >= total_steps) done = true;

      if (has_validation && (state.step % eval_every == 0 || done)) {
        ASSIGN_OR_RETURN(tasks::TaskReport report, Evaluate(*validation_eval, tag + " validation"));
        reporter->OnEvaluation(state.step, "validation", report);
        AppendMetrics({{"event", "eval"}, {"split", "validation"}, {"step", state.step},
                       {report.score_name, report.score}, {"loss", report.loss}});
        if (report.score > state.best_metric) {
          state.best_metric = report.score;
          state.best_step = state.step;
          state.evals_since_best = 0;
          RETURN_IF_ERROR(SaveBestWeights());
        } else if (++state.evals_since_best >= spec.training.early_stopping_patience &&
                   spec.training.early_stopping_patience > 0) {
          if (rank == 0) {
            spdlog::info("early stopping at step {}: no improvement for {} evaluations (best {:.4f} at step {})",
                         state.step, state.evals_since_best, state.best_metric, state.best_step);
          }
          result.stopped_early = true;
          done = true;
        }
      }
      if (state.step % ckpt_every == 0 || done || stop) RETURN_IF_ERROR(Checkpoint());
      if (stop) {
        if (rank == 0) spdlog::warn("stop requested: checkpointed at step {}", state.step);
        result.interrupted = true;
        result.steps = state.step;
        return result;
      }
      if (end_of_epoch) break;
    }
  }
  result.steps = state.step;
  const double elapsed = SecondsSince(run_start);
  result.samples_per_second = state.step > start_step
                                  ? (state.step - start_step) * static_cast<double>(spec.training.batch_size) *
                                        accumulate * world / std::max(1e-9, elapsed)
                                  : 0;

  if (distributed()) {
    // Leave every rank with the same model: rank 0's buffers, and the best
    // weights file complete before anyone reads it.
    RETURN_IF_ERROR(Collective(SyncBuffers("final buffers")));
    RETURN_IF_ERROR(Collective(comm->Barrier("best weights written")->Wait()));
  }
  if (has_validation && fs::exists(best_weights_path)) {
    RETURN_IF_ERROR(LoadBestWeights());
    ASSIGN_OR_RETURN(tasks::TaskReport v, Evaluate(*validation_eval, "final validation"));
    if (rank == 0) {
      spdlog::info("using the best validation model: {} {:.4f} at step {}", v.score_name, state.best_metric,
                   state.best_step);
    }
    result.validation = v;
    task->Tune(v);  // e.g. a detector's threshold, chosen on validation data only
  }
  if (test->size() > 0) {
    ASSIGN_OR_RETURN(tasks::TaskReport t, Evaluate(*test_eval, "final test"));
    reporter->OnEvaluation(state.step, "test", t);
    AppendMetrics({{"event", "eval"}, {"split", "test"}, {"step", state.step}, {t.score_name, t.score}, {"loss", t.loss}});
    result.test = t;
  }
  if (rank != 0) return result;

  nlohmann::json eval = {{"job", spec.name}, {"task", task->name()}, {"steps", state.step}, {"ranks", world}};
  if (result.validation) eval["validation"] = result.validation->details;
  if (result.test) eval["test"] = result.test->details;
  if (!task->Options().empty()) eval["task_options"] = task->Options();
  RETURN_IF_ERROR(AtomicWriteFile((fs::path(spec.output.dir) / "eval.json").string(), eval.dump(2) + "\n"));
  // Figures cost nothing but a warning when they cannot be drawn.
  if (Result<std::vector<std::string>> plots = WriteTrainingPlots(spec.output.dir, spec.name, result.validation,
                                                                   result.test);
      plots.ok()) {
    spdlog::info("plots: {} image(s) in {}/plots", plots->size(), spec.output.dir);
  } else {
    spdlog::warn("{}", plots.status().message());
  }

  if (!spec.output.model_repository.empty()) {
    ExportRequest request;
    request.spec = &spec;
    request.task = task.get();
    request.shape = shape;
    request.labels = split.labels;
    request.validation = result.validation;
    request.test = result.test;
    ASSIGN_OR_RETURN(result.export_dir, ExportTrainedModel(*model, request));
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
  auto append = [&](const torch::Tensor& t) {
    torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous().view(-1);
    flat.insert(flat.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  for (const auto& p : impl_->model->parameters()) append(p);
  for (const auto& b : impl_->model->buffers())
    if (b.is_floating_point()) append(b);
  return flat;
}

}  // namespace chorus::train
