#include "common/config/job_spec.h"

#include <filesystem>

#include "common/config/yaml_reader.h"

namespace chorus::config {
namespace {

namespace fs = std::filesystem;

bool OneOf(const std::string& value, std::initializer_list<const char*> options) {
  for (const char* o : options)
    if (value == o) return true;
  return false;
}

std::string Resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty() || fs::path(path).is_absolute()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

void ReadDataset(ConfigNode node, DatasetSpec* d) {
  node.Get("kind", &d->kind);
  node.Check(OneOf(d->kind, {"speech_commands", "fsdd", "folder", "segments", "speakers"}), "kind",
             "must be one of speech_commands, fsdd, folder, segments, speakers; got '" + d->kind + "'");
  node.Require("root", &d->root);
  node.Get("words", &d->words);
  node.Get("silence_percentage", &d->silence_percentage);
  node.Get("unknown_percentage", &d->unknown_percentage);
  node.Get("validation_percentage", &d->validation_percentage);
  node.Get("testing_percentage", &d->testing_percentage);
  node.Get("train_speakers", &d->train_speakers);
  node.Get("validation_speakers", &d->validation_speakers);
  node.Get("test_speakers", &d->test_speakers);
  node.Get("test_root", &d->test_root);
  node.Get("validation_trials", &d->validation_trials);
  node.Get("test_trials", &d->test_trials);
  node.Check(d->kind == "speakers" || (d->test_root.empty() && d->validation_trials.empty() && d->test_trials.empty()),
             "test_root", "test_root, validation_trials and test_trials belong to dataset kind speakers");
  node.Get("clip_seconds", &d->clip_seconds);
  node.Get("crop_seconds", &d->crop_seconds);
  node.Get("repeat", &d->repeat);
  node.Check(d->repeat >= 1 && d->repeat <= 100, "repeat", "must be in [1, 100]");
  for (ConfigNode source : node.ChildList("extra_train")) {
    ExtraTrainSource extra;
    source.Require("root", &extra.root);
    source.Require("label_map", &extra.label_map);
    source.Check(!extra.label_map.empty(), "label_map", "must map at least one folder to a label");
    d->extra_train.push_back(extra);
  }
  node.Check(d->silence_percentage >= 0 && d->silence_percentage <= 100, "silence_percentage", "must be in [0, 100]");
  node.Check(d->unknown_percentage >= 0 && d->unknown_percentage <= 100, "unknown_percentage", "must be in [0, 100]");
  node.Check(d->validation_percentage >= 0 && d->testing_percentage >= 0 &&
                 d->validation_percentage + d->testing_percentage < 100,
             "validation_percentage", "validation and testing percentages must be >= 0 and add up to less than 100");
  node.Check(d->clip_seconds > 0 && d->clip_seconds <= 30, "clip_seconds", "must be in (0, 30]");
  node.Check(d->crop_seconds >= 0 && d->crop_seconds <= 600, "crop_seconds", "must be in [0, 600] (0: whole recordings)");
  if (d->kind == "speech_commands") {
    node.Check(!d->words.empty(), "words", "speech_commands needs the list of wanted words");
  }
  if (d->kind == "fsdd") {
    node.Check(!d->train_speakers.empty(), "train_speakers", "fsdd needs at least one training speaker");
    node.Check(!d->test_speakers.empty(), "test_speakers", "fsdd needs at least one test speaker");
  }
}

void ReadFeatures(ConfigNode node, audio::FeatureOptions* f) {
  std::string kind = audio::FeatureKindName(f->kind);
  node.Get("kind", &kind);
  Result<audio::FeatureKind> parsed = audio::ParseFeatureKind(kind);
  if (parsed.ok()) {
    f->kind = *parsed;
  } else {
    node.Error("kind", parsed.status().message());
  }
  node.Get("sample_rate", &f->sample_rate);
  node.Get("window_ms", &f->window_ms);
  node.Get("hop_ms", &f->hop_ms);
  node.Get("n_fft", &f->n_fft);
  node.Get("n_mels", &f->n_mels);
  node.Get("f_min", &f->f_min);
  node.Get("f_max", &f->f_max);
  node.Get("n_mfcc", &f->n_mfcc);
  node.Get("normalize", &f->normalize);
  Status st = audio::ValidateFeatureOptions(*f);
  if (!st.ok()) node.Error("", st.message());
}

void ReadAugment(ConfigNode node, bool* enabled, audio::AugmentOptions* a) {
  node.Get("enabled", enabled);
  node.Get("time_shift_ms", &a->time_shift_ms);
  node.Get("speed_min", &a->speed_min);
  node.Get("speed_max", &a->speed_max);
  node.Get("gain_db_max", &a->gain_db_max);
  node.Get("noise_probability", &a->noise_probability);
  node.Get("noise_volume_max", &a->noise_volume_max);
  node.Get("use_snr", &a->use_snr);
  node.Get("snr_db_min", &a->snr_db_min);
  node.Get("snr_db_max", &a->snr_db_max);
  node.Get("time_masks", &a->time_masks);
  node.Get("time_mask_max", &a->time_mask_max);
  node.Get("freq_masks", &a->freq_masks);
  node.Get("freq_mask_max", &a->freq_mask_max);
  Status st = audio::ValidateAugmentOptions(*a);
  if (!st.ok()) node.Error("", st.message());
}

void ReadModel(ConfigNode node, ModelSpec* m) {
  node.Get("name", &m->name);
  node.Check(OneOf(m->name, {"vgg", "ds_cnn", "tc_resnet", "crnn", "vad_crnn", "ecapa_lite"}), "name",
             "must be one of vgg, ds_cnn, tc_resnet, crnn, vad_crnn, ecapa_lite; got '" + m->name + "'");
  node.Get("embedding_dim", &m->embedding_dim);
  node.Check(m->embedding_dim >= 2 && m->embedding_dim <= 4096, "embedding_dim", "must be in [2, 4096]");
  node.Get("width", &m->width);
  node.Get("dropout", &m->dropout);
  node.Get("hidden", &m->hidden);
  node.Get("norm", &m->norm);
  node.Check(OneOf(m->norm, {"batch", "none"}), "norm", "must be batch or none; got '" + m->norm + "'");
  node.Check(m->width >= 4 && m->width <= 1024, "width", "must be in [4, 1024]");
  node.Check(m->dropout >= 0 && m->dropout < 1, "dropout", "must be in [0, 1)");
  node.Check(m->hidden >= 1 && m->hidden <= 4096, "hidden", "must be in [1, 4096]");
}

void ReadEmbed(ConfigNode node, EmbedSpec* e) {
  node.Get("margin", &e->margin);
  node.Get("scale", &e->scale);
  node.Get("enrol_utterances", &e->enrol_utterances);
  node.Get("min_seconds", &e->min_seconds);
  node.Check(e->margin >= 0 && e->margin < 1, "margin", "must be in [0, 1) radians");
  node.Check(e->scale > 0 && e->scale <= 128, "scale", "must be in (0, 128]");
  node.Check(e->enrol_utterances >= 1 && e->enrol_utterances <= 100, "enrol_utterances", "must be in [1, 100]");
  node.Check(e->min_seconds > 0 && e->min_seconds <= 30, "min_seconds", "must be in (0, 30]");
}

void ReadOptimizer(ConfigNode node, OptimizerSpec* o) {
  node.Get("kind", &o->kind);
  node.Check(OneOf(o->kind, {"adam", "sgd"}), "kind", "must be adam or sgd; got '" + o->kind + "'");
  node.Get("lr", &o->lr);
  node.Get("weight_decay", &o->weight_decay);
  node.Get("momentum", &o->momentum);
  node.Get("nesterov", &o->nesterov);
  node.Check(o->lr > 0 && o->lr < 10, "lr", "must be in (0, 10)");
  node.Check(o->weight_decay >= 0, "weight_decay", "must be >= 0");
  node.Check(o->momentum >= 0 && o->momentum < 1, "momentum", "must be in [0, 1)");
}

void ReadSchedule(ConfigNode node, ScheduleSpec* s) {
  node.Get("kind", &s->kind);
  node.Check(OneOf(s->kind, {"constant", "step", "cosine"}), "kind",
             "must be constant, step or cosine; got '" + s->kind + "'");
  node.Get("warmup_steps", &s->warmup_steps);
  node.Get("step_size", &s->step_size);
  node.Get("gamma", &s->gamma);
  node.Get("min_lr_ratio", &s->min_lr_ratio);
  node.Check(s->warmup_steps >= 0, "warmup_steps", "must be >= 0");
  node.Check(s->step_size > 0, "step_size", "must be positive");
  node.Check(s->gamma > 0 && s->gamma <= 1, "gamma", "must be in (0, 1]");
  node.Check(s->min_lr_ratio >= 0 && s->min_lr_ratio <= 1, "min_lr_ratio", "must be in [0, 1]");
}

void ReadTraining(ConfigNode node, TrainingSpec* t) {
  node.Get("batch_size", &t->batch_size);
  node.Get("epochs", &t->epochs);
  node.Get("max_steps", &t->max_steps);
  node.Get("eval_every_steps", &t->eval_every_steps);
  node.Get("early_stopping_patience", &t->early_stopping_patience);
  node.Get("checkpoint_every_steps", &t->checkpoint_every_steps);
  node.Get("keep_checkpoints", &t->keep_checkpoints);
  node.Get("seed", &t->seed);
  node.Get("threads", &t->threads);
  node.Get("loader_threads", &t->loader_threads);
  node.Get("label_smoothing", &t->label_smoothing);
  node.Get("mixup_alpha", &t->mixup_alpha);
  node.Get("accumulate_steps", &t->accumulate_steps);
  node.Get("sharding", &t->sharding);
  node.Get("collective_timeout_s", &t->collective_timeout_s);
  node.Get("first_bucket_mb", &t->first_bucket_mb);
  node.Get("bucket_mb", &t->bucket_mb);
  node.Get("device", &t->device);
  node.Get("precision", &t->precision);
  node.Get("deterministic", &t->deterministic);
  node.Check(t->batch_size >= 1 && t->batch_size <= 65536, "batch_size", "must be in [1, 65536]");
  node.Check(t->epochs >= 1, "epochs", "must be >= 1");
  node.Check(t->max_steps >= 0, "max_steps", "must be >= 0");
  node.Check(t->eval_every_steps >= 0, "eval_every_steps", "must be >= 0");
  node.Check(t->early_stopping_patience >= 0, "early_stopping_patience", "must be >= 0");
  node.Check(t->checkpoint_every_steps >= 0, "checkpoint_every_steps", "must be >= 0");
  node.Check(t->keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1");
  node.Check(t->threads >= 0 && t->threads <= 256, "threads", "must be in [0, 256]");
  node.Check(t->loader_threads >= 1 && t->loader_threads <= 64, "loader_threads", "must be in [1, 64]");
  node.Check(t->label_smoothing >= 0 && t->label_smoothing < 1, "label_smoothing", "must be in [0, 1)");
  node.Check(t->mixup_alpha >= 0 && t->mixup_alpha <= 10, "mixup_alpha", "must be in [0, 10] (0: no mixup)");
  node.Check(t->accumulate_steps >= 1 && t->accumulate_steps <= 1024, "accumulate_steps", "must be in [1, 1024]");
  node.Check(OneOf(t->sharding, {"none", "optimizer"}), "sharding",
             "must be none or optimizer (ZeRO stage 1); got '" + t->sharding + "'");
  node.Check(t->collective_timeout_s > 0 && t->collective_timeout_s <= 86400, "collective_timeout_s",
             "must be in (0, 86400]");
  node.Check(t->first_bucket_mb > 0 && t->bucket_mb > 0, "bucket_mb", "bucket sizes must be positive");
  node.Check(IsDeviceName(t->device), "device", "must be cpu, cuda or cuda:N; got '" + t->device + "'");
  node.Check(OneOf(t->precision, {"fp32", "bf16"}), "precision", "must be fp32 or bf16; got '" + t->precision + "'");
}

Result<TrainJobSpec> ReadSpec(YamlReader reader, const std::string& source, const std::string& base_dir) {
  TrainJobSpec spec;
  spec.source_file = source;
  ConfigNode root = reader.Root();
  root.Require("name", &spec.name);
  root.Check(!spec.name.empty() && spec.name.find('/') == std::string::npos, "name",
             "must be a non-empty name without '/'");
  root.Get("task", &spec.task);
  root.Check(OneOf(spec.task, {"classify", "detect", "embed"}), "task",
             "must be classify, detect or embed; got '" + spec.task + "'");
  ReadDataset(root.Child("dataset", /*required=*/true), &spec.dataset);
  // Voice activity needs recordings with speech segments, and only they carry them.
  root.Check(spec.task != "detect" || spec.dataset.kind == "segments", "task",
             "detect needs a dataset of recordings with speech segments (dataset.kind: segments), got kind " +
                 spec.dataset.kind);
  root.Check(spec.task == "detect" || spec.dataset.kind != "segments", "task",
             "a segments dataset holds speech regions for task detect, not for task " + spec.task);
  root.Check(spec.task != "embed" || spec.dataset.kind == "speakers", "task",
             "embed needs a dataset of utterances by speaker (dataset.kind: speakers), got kind " + spec.dataset.kind);
  root.Check(spec.task == "embed" || spec.dataset.kind != "speakers", "task",
             "a speakers dataset is for task embed, not for task " + spec.task);
  ReadEmbed(root.Child("embed"), &spec.embed);
  ReadFeatures(root.Child("features"), &spec.features);
  ReadAugment(root.Child("augment"), &spec.augment_enabled, &spec.augment);
  ReadModel(root.Child("model"), &spec.model);
  ReadOptimizer(root.Child("optimizer"), &spec.optimizer);
  ReadSchedule(root.Child("schedule"), &spec.schedule);
  ReadTraining(root.Child("training"), &spec.training);
  ConfigNode output = root.Child("output");
  output.Get("dir", &spec.output.dir);
  output.Get("model_repository", &spec.output.model_repository);
  output.Get("model_name", &spec.output.model_name);
  RETURN_IF_ERROR(reader.Finish());

  if (spec.output.dir.empty()) spec.output.dir = "runs/" + spec.name;
  if (spec.output.model_name.empty()) spec.output.model_name = spec.name;
  spec.dataset.root = Resolve(base_dir, spec.dataset.root);
  for (auto& extra : spec.dataset.extra_train) extra.root = Resolve(base_dir, extra.root);
  for (std::string* path : {&spec.dataset.test_root, &spec.dataset.validation_trials, &spec.dataset.test_trials})
    *path = Resolve(base_dir, *path);
  return spec;
}

}  // namespace

bool IsDeviceName(const std::string& name) {
  if (name == "cpu" || name == "cuda") return true;
  if (name.rfind("cuda:", 0) != 0 || name.size() < 6 || name.size() > 9) return false;
  return name.find_first_not_of("0123456789", 5) == std::string::npos;
}

Result<TrainJobSpec> ParseTrainJobSpec(const std::string& yaml_text, const std::string& name,
                                       const std::string& base_dir) {
  ASSIGN_OR_RETURN(YamlReader reader, YamlReader::LoadString(yaml_text, name));
  return ReadSpec(std::move(reader), name, base_dir);
}

Result<DatasetSpec> DatasetSpecFromArgument(const std::string& argument, TrainJobSpec* job) {
  std::error_code ec;
  const bool is_file = fs::is_regular_file(argument, ec);
  if (!is_file && argument.find(':') == std::string::npos) {
    return InvalidArgument("dataset '" + argument +
                           "': no such file, and not a YAML mapping such as '{kind: fsdd, root: data/fsdd}'");
  }
  Result<YamlReader> reader = is_file ? YamlReader::LoadFile(argument) : YamlReader::LoadString(argument, "--data");
  if (!reader.ok()) return reader.status();
  if (reader->Root().Has("dataset")) {  // a job file
    ASSIGN_OR_RETURN(TrainJobSpec spec, is_file ? LoadTrainJobSpec(argument) : ParseTrainJobSpec(argument, "--data"));
    if (job) *job = spec;
    return spec.dataset;
  }
  DatasetSpec d;
  ReadDataset(reader->Root(), &d);
  RETURN_IF_ERROR(reader->Finish());
  if (job) job->dataset = d;
  return d;
}

Result<TrainJobSpec> LoadTrainJobSpec(const std::string& path) {
  ASSIGN_OR_RETURN(YamlReader reader, YamlReader::LoadFile(path));
  return ReadSpec(std::move(reader), path, "");
}

}  // namespace chorus::config
