// Evaluation of an exported model (a models/NAME/VERSION folder: model.json
// and model.pt) on one split of any dataset a job's `dataset:` section can
// describe: what `chorus-worker eval` (and `chorus eval`) runs.
//
// It takes the trainer's own path: the model's front end (model.json
// features), clips fitted to the model's clip length, the Evaluator with the
// trainer's batch sizes and the silence seed recorded in model.json, and the
// task's Evaluation, sharded over the ranks of `comm` (rank r takes examples
// r, r+N, ...) and summed in one all-reduce. So the trainer's test split
// gives the trainer's figures exactly (accuracy, confusion matrix, ROC).
//
// Classify: the dataset's classes must be the model's (in any order; the
// examples' labels are mapped onto the model's), else an InvalidArgument
// naming the classes that differ. Every problem (no model, bad weights, an
// empty split, unreadable audio) is a Status naming it. Not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/comm/communicator.h"
#include "common/config/job_spec.h"
#include "common/data/example.h"
#include "common/tasks/task.h"
#include "common/util/status.h"

namespace chorus::train {

struct ModelEvalOptions {
  std::string model_dir;          // a version folder
  config::DatasetSpec dataset;
  std::string split = "test";     // train | validation | test
  std::string device = "cpu";     // cpu | cuda | cuda:N
  int batch_size = 0;             // 0: the trainer's (256 clips, 16 recordings)
  std::optional<uint64_t> seed;   // silence examples' noise; default: the trainer's (model.json)
  comm::Communicator* comm = nullptr;  // null: one process
  int local_rank = 0;
};

struct ModelEvalResult {
  std::string model_dir;
  std::string model_name;
  int64_t model_version = 0;
  std::string task;
  std::vector<std::string> labels;  // the model's
  std::string split;
  std::vector<data::Example> examples;  // the split, labels mapped onto the model's
  int ranks = 1;
  double seconds = 0;
  tasks::TaskReport report;  // complete on every rank
};

Result<ModelEvalResult> EvaluateModel(const ModelEvalOptions& options);

}  // namespace chorus::train
