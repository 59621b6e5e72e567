#include "worker/train/evaluator.h"

#include <torch/torch.h>

namespace chorus::train {

Evaluator::Evaluator(ClipSet& clips, const audio::FeatureExtractor& extractor, const audio::Augmenter& augmenter,
                     const tasks::Task& task, EvaluatorOptions options)
    : clips_(clips), extractor_(extractor), augmenter_(augmenter), task_(task), options_(std::move(options)) {}

Status Evaluator::BuildBatches() {
  BatchLoaderOptions lo;
  lo.batch_size = options_.batch_size;
  lo.drop_last = false;
  lo.augment = false;
  lo.seed = options_.seed;
  lo.silence_volume_max = options_.silence_volume_max;
  lo.pin_memory = options_.pin_memory;
  BatchLoader loader(clips_, extractor_, augmenter_, task_, lo);
  std::vector<int64_t> order;
  for (int64_t i = options_.rank; i < clips_.size(); i += options_.world_size) order.push_back(i);
  for (int64_t b = 0; b < loader.NumBatches(static_cast<int64_t>(order.size())); ++b) {
    ASSIGN_OR_RETURN(Batch batch, loader.MakeBatch(0, order, b));
    batches_.push_back(std::move(batch));
  }
  built_ = true;
  return Status::Ok();
}

Result<tasks::TaskReport> Evaluator::Run(models::Model& model, comm::Communicator* comm, const std::string& tag) {
  if (!built_) RETURN_IF_ERROR(BuildBatches());
  const c10::Device device = model.device();
  std::unique_ptr<tasks::Evaluation> evaluation = task_.NewEvaluation(clips_.examples(), options_.trials);
  {
    torch::NoGradGuard no_grad;
    model.eval();
    for (const Batch& batch : batches_) {
      const torch::Tensor x = batch.features.to(device, /*non_blocking=*/true);
      evaluation->Add(model.forward(x), batch.targets.To(device, /*non_blocking=*/true));
    }
    model.train();
  }
  if (comm && comm->world_size() > 1) {
    torch::Tensor counts = evaluation->Counts().to(device);
    RETURN_IF_ERROR(comm->AllReduce(counts, comm::ReduceOp::kSum, tag)->Wait());
    evaluation->SetCounts(counts);
  }
  return evaluation->Report();
}

}  // namespace chorus::train
