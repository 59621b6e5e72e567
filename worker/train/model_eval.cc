#include "worker/train/model_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <torch/torch.h>

#include "common/audio/augment.h"
#include "common/audio/features.h"
#include "common/models/device.h"
#include "common/models/model_bundle.h"
#include "worker/train/clip_set.h"
#include "worker/train/dataset_from_spec.h"
#include "worker/train/evaluator.h"
#include "worker/train/exporter.h"

namespace chorus::train {
namespace {

// The split's examples with their labels mapped onto the model's classes.
Result<std::vector<data::Example>> MapLabels(std::vector<data::Example> examples,
                                            const std::vector<std::string>& data_labels,
                                            const std::vector<std::string>& model_labels) {
  std::map<std::string, int> model_index;
  for (size_t i = 0; i < model_labels.size(); ++i) model_index[model_labels[i]] = static_cast<int>(i);
  std::vector<std::string> unknown;
  for (const auto& l : data_labels)
    if (!model_index.count(l)) unknown.push_back("'" + l + "'");
  if (!unknown.empty()) {
    std::string known, missing;
    for (const auto& l : model_labels) known += (known.empty() ? "" : ", ") + l;
    for (const auto& l : unknown) missing += (missing.empty() ? "" : ", ") + l;
    return InvalidArgument("the dataset has classes the model does not know: " + missing + " (the model's: " + known +
                           ")");
  }
  for (auto& e : examples) {
    if (e.label < 0 || e.label >= static_cast<int>(data_labels.size()))
      return Internal("an example's label is out of range: " + e.path);
    e.label = model_index[data_labels[e.label]];
  }
  return examples;
}

}  // namespace

Result<ModelEvalResult> EvaluateModel(const ModelEvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  comm::Communicator* comm = options.comm && options.comm->world_size() > 1 ? options.comm : nullptr;
  ModelEvalResult out;
  out.model_dir = options.model_dir;
  out.split = options.split;
  out.ranks = comm ? comm->world_size() : 1;

  ASSIGN_OR_RETURN(models::LoadedModel loaded, models::LoadModel(options.model_dir));
  const models::ModelMetadata& meta = loaded.metadata;
  out.model_name = meta.name;
  out.model_version = meta.version;
  out.task = meta.task;
  out.labels = meta.labels;
  ASSIGN_OR_RETURN(std::unique_ptr<tasks::Task> task, tasks::Task::Create(meta.task, meta.labels, meta.task_options));

  // The model must fit the data: a classifier's classes, a detector's segments, an embedder's speakers.
  const bool data_fits = meta.task == "detect" ? options.dataset.kind == "segments"
                         : meta.task == "embed" ? options.dataset.kind == "speakers"
                                                : options.dataset.kind != "segments" && options.dataset.kind != "speakers";
  if (!data_fits) {
    return InvalidArgument(options.model_dir + " is a " + meta.task + " model; it cannot be evaluated on a dataset of kind " +
                           options.dataset.kind);
  }
  ASSIGN_OR_RETURN(data::DatasetSplit split, LoadDatasetFromSpec(options.dataset, meta.training_seed));
  std::vector<data::Example>* examples = options.split == "test"         ? &split.test
                                         : options.split == "validation" ? &split.validation
                                         : options.split == "train"      ? &split.train
                                                                         : nullptr;
  if (!examples) return InvalidArgument("split must be train, validation or test, got '" + options.split + "'");
  const std::vector<data::Trial>& trials = options.split == "test"         ? split.test_trials
                                           : options.split == "validation" ? split.validation_trials
                                                                           : std::vector<data::Trial>{};
  if (examples->empty()) {
    return InvalidArgument("dataset " + options.dataset.root + " has no " + options.split + " examples");
  }
  if (meta.task == "classify") {
    ASSIGN_OR_RETURN(out.examples, MapLabels(*examples, split.labels, meta.labels));
  } else {
    out.examples = *examples;
  }

  ASSIGN_OR_RETURN(c10::Device device, models::ResolveDevice(options.device, options.local_rank));
  models::Model& model = *loaded.model;
  model.to(device);
  ASSIGN_OR_RETURN(audio::FeatureExtractor extractor, audio::FeatureExtractor::Create(meta.features));
  const int sample_rate = meta.features.sample_rate;
  const int64_t clip_samples = task->whole_recordings() ? 0 : std::llround(meta.clip_seconds * sample_rate);
  ClipSet clips(out.examples, sample_rate, clip_samples);
  ASSIGN_OR_RETURN(std::vector<audio::Waveform> noises, LoadNoise(split.noise_files, sample_rate));
  audio::AugmentOptions augment;
  augment.noise_volume_max = meta.silence_volume_max;
  audio::Augmenter augmenter(augment, std::move(noises), sample_rate);

  EvaluatorOptions eo;
  eo.batch_size = options.batch_size > 0 ? options.batch_size : task->whole_recordings() ? 16 : 256;
  eo.seed = options.seed.value_or(EvaluationSeed(meta.training_seed));
  eo.silence_volume_max = static_cast<float>(meta.silence_volume_max);
  eo.pin_memory = device.is_cuda();
  eo.rank = comm ? comm->rank() : 0;
  eo.world_size = out.ranks;
  eo.trials = trials;
  Evaluator evaluator(clips, extractor, augmenter, *task, eo);
  try {
    ASSIGN_OR_RETURN(out.report, evaluator.Run(model, comm, "eval " + options.split));
  } catch (const c10::Error& e) {
    return Internal("evaluating " + options.model_dir + ": " + e.what_without_backtrace());
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace chorus::train
