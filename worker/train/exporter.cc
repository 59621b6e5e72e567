#include "worker/train/exporter.h"

#include "common/models/model_bundle.h"

namespace chorus::train {

Result<std::string> ExportTrainedModel(models::Model& model, const ExportRequest& request) {
  const config::TrainJobSpec& spec = *request.spec;
  models::ModelMetadata meta;
  meta.name = spec.output.model_name;
  meta.model = spec.model;
  meta.shape = request.shape;
  meta.features = spec.features;
  meta.labels = request.labels;
  meta.clip_seconds = spec.dataset.clip_seconds;
  meta.source_job = spec.source_file.empty() ? spec.name : spec.source_file;
  meta.training_seed = spec.training.seed;
  meta.silence_volume_max = spec.augment.noise_volume_max;
  if (request.task) {
    meta.task = request.task->name();
    meta.task_options = request.task->Options();
  }
  if (request.test) meta.metrics["test_" + request.test->score_name] = request.test->score;
  if (request.validation) meta.metrics["validation_" + request.validation->score_name] = request.validation->score;
  model.eval();
  Result<std::string> dir = models::ExportModel(model, meta, spec.output.model_repository);
  model.train();
  return dir;
}

}  // namespace chorus::train
