// TrainJobSpec: everything a training job needs, parsed from a jobs/*.yaml file
// and validated before any work starts (unknown keys and wrong types are
// reported with file:line:key). Torch-free so the coordinator can validate
// specs at submit time. Plain value types.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/audio/augment_options.h"
#include "common/audio/feature_options.h"
#include "common/util/status.h"

namespace chorus::config {

// Extra folder-per-label data mixed into the training split only (for example
// synthetic digits added to FSDD). Folders are renamed through label_map; a
// folder not in the map is ignored.
struct ExtraTrainSource {
  std::string root;
  std::map<std::string, std::string> label_map;  // folder name -> label
};

struct DatasetSpec {
  // speech_commands | fsdd | folder | segments (voice activity) | speakers (speaker recognition)
  std::string kind = "speech_commands";
  std::string root;
  // speech_commands
  std::vector<std::string> words;
  double silence_percentage = 10.0;
  double unknown_percentage = 10.0;
  double validation_percentage = 10.0;
  double testing_percentage = 10.0;
  // fsdd
  std::vector<std::string> train_speakers;
  std::vector<std::string> validation_speakers;
  std::vector<std::string> test_speakers;
  std::vector<ExtraTrainSource> extra_train;
  // speakers: a second layout whose speakers are the test split (else
  // testing_percentage of root's speakers), and VoxCeleb-style trial lists
  std::string test_root;
  std::string validation_trials;
  std::string test_trials;
  // Each training example of the dataset itself (not of extra_train) appears
  // this many times per epoch, each time with its own augmentation: weights
  // scarce real recordings against plentiful synthetic ones.
  int repeat = 1;
  // every clip is padded or cropped to this length at the features' sample rate
  double clip_seconds = 1.0;
  // task detect: training takes a random crop this long from each recording
  // (0: whole recordings); evaluation always uses whole recordings
  double crop_seconds = 4.0;
};

struct ModelSpec {
  std::string name = "ds_cnn";  // vgg | ds_cnn | tc_resnet | crnn
  int width = 64;               // base channel count
  double dropout = 0.2;
  int hidden = 64;              // recurrent size (crnn)
  int embedding_dim = 128;      // speaker embedding size (ecapa_lite)
  std::string norm = "batch";   // batch | none (no BatchNorm: used where per-rank batch
                                // statistics must not matter, e.g. equivalence tests)
};

struct OptimizerSpec {
  std::string kind = "adam";  // adam | sgd
  double lr = 1e-3;
  double weight_decay = 0.0;
  double momentum = 0.9;  // sgd
  bool nesterov = false;  // sgd
};

struct ScheduleSpec {
  std::string kind = "cosine";  // constant | step | cosine
  int64_t warmup_steps = 0;      // linear warm-up from 0 to lr
  int64_t step_size = 1000;      // step: multiply by gamma every step_size steps
  double gamma = 0.1;
  double min_lr_ratio = 0.0;     // cosine: floor as a fraction of lr
};

struct TrainingSpec {
  int batch_size = 64;
  int epochs = 10;
  int64_t max_steps = 0;              // > 0: stop after this many steps instead
  int64_t eval_every_steps = 0;       // 0: once per epoch
  int early_stopping_patience = 0;    // evaluations without improvement; 0: off
  int64_t checkpoint_every_steps = 0; // 0: once per epoch
  int keep_checkpoints = 2;
  uint64_t seed = 1;
  int threads = 0;                    // intra-op threads for the model; 0: LibTorch's default
  int loader_threads = 1;             // feature/augmentation threads
  double label_smoothing = 0.0;
  // > 0: mixup (Zhang et al. 2018) with this Beta(alpha, alpha): each training
  // batch's examples are blended in pairs, targets alike (mixup.h). 0: off.
  double mixup_alpha = 0.0;
  // Data-parallel training across ranks.
  int accumulate_steps = 1;           // micro-batches per optimizer step (only the last communicates)
  std::string sharding = "none";      // none | optimizer (ZeRO stage 1)
  double collective_timeout_s = 300;  // a collective slower than this aborts the job
  double first_bucket_mb = 1.0;       // gradient bucket caps (MiB)
  double bucket_mb = 25.0;
  // Where the model, batches and optimizer state live: cpu, cuda (each rank
  // takes GPU local_rank modulo the GPUs it sees) or cuda:N (that GPU).
  // CUDA needs a build of Chorus against LibTorch with CUDA, and NCCL for
  // more than one rank.
  std::string device = "cpu";
  // fp32, or bf16: forward and loss under autocast to bfloat16 (weights,
  // gradients and optimizer state stay float32; no loss scaling needed).
  std::string precision = "fp32";
  // CUDA: deterministic cuDNN algorithms and no TF32, so a run and its resume
  // are bit-identical (slower). CPU training is always deterministic.
  bool deterministic = false;
};

// task embed: the AAM-softmax and how evaluation enrols (tasks/embed_task.h).
struct EmbedSpec {
  double margin = 0.2;        // radians added to the spoken speaker's angle
  double scale = 30.0;        // logit scale
  int enrol_utterances = 5;   // per speaker, in evaluation
  double min_seconds = 0.1;   // served: shorter audio is refused
};

struct OutputSpec {
  std::string dir;                // checkpoints, metrics.jsonl, eval.json
  std::string model_repository;  // "" : do not export
  std::string model_name;        // defaults to the job name
};

struct TrainJobSpec {
  std::string name;
  std::string source_file;  // the YAML it came from ("" when built in code)
  // classify (clips to classes: keyword spotting), detect (recordings to a
  // speech probability per frame: voice activity; dataset kind segments and a
  // per-frame model such as vad_crnn), embed (clips to speaker embeddings:
  // dataset kind speakers and an embedding model such as ecapa_lite).
  std::string task = "classify";
  EmbedSpec embed;
  DatasetSpec dataset;
  audio::FeatureOptions features;
  bool augment_enabled = true;
  audio::AugmentOptions augment;
  ModelSpec model;
  OptimizerSpec optimizer;
  ScheduleSpec schedule;
  TrainingSpec training;
  OutputSpec output;
};

// True for the device names Chorus accepts for training and serving: cpu,
// cuda, cuda:N.
bool IsDeviceName(const std::string& name);

// Relative paths in the spec (dataset roots, output dirs) are resolved against
// `base_dir` when it is not empty.
Result<TrainJobSpec> LoadTrainJobSpec(const std::string& path);
Result<TrainJobSpec> ParseTrainJobSpec(const std::string& yaml_text, const std::string& name,
                                       const std::string& base_dir = "");

// A dataset named on a command line (`chorus eval --data`): a job file (its
// dataset section; *job gets the whole spec when not null), a YAML file
// holding one dataset mapping (the keys of a job's `dataset:`), or that
// mapping inline, e.g. '{kind: fsdd, root: data/fsdd, test_speakers:
// [yweweler]}'. Paths stay relative to the working directory, as in job
// files. Errors are InvalidArgument naming the argument and the bad key.
Result<DatasetSpec> DatasetSpecFromArgument(const std::string& argument, TrainJobSpec* job = nullptr);

}  // namespace chorus::config
