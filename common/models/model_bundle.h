// Model repository entries: models/<name>/<version>/ holding
//   model.pt    the weights (LibTorch archive of the module)
//   model.json  architecture spec, input shape, front-end settings, labels,
//               clip length, metrics and provenance
// Together they are everything a serving worker needs to rebuild the model
// and its front end; nothing else is read. Export writes the version into a
// temporary folder and renames it into place, so a reader never sees half a
// model. Functions are thread-safe for distinct versions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/audio/feature_options.h"
#include "common/config/job_spec.h"
#include "common/models/model.h"
#include "common/util/status.h"

namespace chorus::models {

struct ModelMetadata {
  std::string name;
  int64_t version = 0;
  config::ModelSpec model;
  InputShape shape;
  audio::FeatureOptions features;
  std::vector<std::string> labels;
  double clip_seconds = 1.0;
  std::string task = "classify";                           // common/tasks/task.h
  nlohmann::json task_options = nlohmann::json::object();  // the task's settings (detect: post-processing)
  nlohmann::json metrics = nlohmann::json::object();  // e.g. test accuracy
  // How the trainer split and evaluated ("evaluation" in model.json), so
  // `chorus eval` can repeat it exactly: its seed (dataset split, silence
  // examples' noise) and the silence examples' loudest volume.
  uint64_t training_seed = 1;
  double silence_volume_max = 0.1;
  std::string source_job;
  std::string created_at;  // ISO 8601 UTC, set by ExportModel

  nlohmann::json ToJson() const;
  static Result<ModelMetadata> FromJson(const nlohmann::json& json, const std::string& where);
};

// Writes repository/<name>/<version>/. version 0 means one past the highest
// version present. Fails with AlreadyExists if that version exists. Returns
// the version directory.
Result<std::string> ExportModel(Model& model, ModelMetadata metadata, const std::string& repository);

struct LoadedModel {
  ModelMetadata metadata;
  ModelPtr model;  // in eval mode
};

// dir: a version directory. The model comes back on the CPU whatever device
// it was trained on (move it with ->to()). Every problem (missing file, bad JSON, weights
// that do not fit the architecture) is a Status naming the file.
Result<LoadedModel> LoadModel(const std::string& dir);

}  // namespace chorus::models
