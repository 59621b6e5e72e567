#include "worker/train/evaluator.h"

#include <torch/torch.h>

namespace chorus::train {

Evaluator::Evaluator(ClipSet& clips, const audio::FeatureExtractor& extractor, const audio::Augmenter& augmenter,
                     EvaluatorOptions options)
    : clips_(clips), extractor_(extractor), augmenter_(augmenter), options_(std::move(options)) {}

Status Evaluator::BuildBatches() {
  BatchLoaderOptions lo;
  lo.batch_size = options_.batch_size;
  lo.drop_last = false;
  lo.augment = false;
  lo.seed = options_.seed;
  lo.silence_volume_max = options_.silence_volume_max;
  lo.pin_memory = options_.pin_memory;
  BatchLoader loader(clips_, extractor_, augmenter_, lo);
  std::vector<int64_t> order;
  for (int64_t i = options_.rank; i < clips_.size(); i += options_.world_size) order.push_back(i);
  for (int64_t b = 0; b < loader.NumBatches(static_cast<int64_t>(order.size())); ++b) {
    ASSIGN_OR_RETURN(Batch batch, loader.MakeBatch(0, order, b));
    batches_.push_back(std::move(batch));
  }
  built_ = true;
  return Status::Ok();
}

Result<models::EvalReport> Evaluator::Run(models::Model& model, comm::Communicator* comm, const std::string& tag) {
  if (!built_) RETURN_IF_ERROR(BuildBatches());
  const int64_t n = static_cast<int64_t>(options_.labels.size());
  const c10::Device device = model.parameters().empty() ? c10::Device(c10::kCPU) : model.parameters().front().device();
  // Confusion matrix (actual x predicted, row-major) and the loss sum.
  torch::Tensor counts = torch::zeros({n * n + 1}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
  {
    torch::NoGradGuard no_grad;
    model.eval();
    for (const Batch& batch : batches_) {
      const torch::Tensor x = batch.features.to(device, /*non_blocking=*/true);
      const torch::Tensor y = batch.labels.to(device, /*non_blocking=*/true);
      const torch::Tensor logits = model.forward(x);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(
          logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      const torch::Tensor cells = y * n + logits.argmax(1);
      counts.narrow(0, 0, n * n).add_(torch::bincount(cells, {}, n * n).to(torch::kFloat64));
      counts.narrow(0, n * n, 1).add_(loss.to(torch::kFloat64));
    }
    model.train();
  }
  if (comm && comm->world_size() > 1) RETURN_IF_ERROR(comm->AllReduce(counts, comm::ReduceOp::kSum, tag)->Wait());
  const torch::Tensor host = counts.cpu();
  const double* c = host.data_ptr<double>();
  models::ConfusionMatrix matrix(options_.labels);
  for (int64_t i = 0; i < n * n; ++i) matrix.raw()[i] = static_cast<int64_t>(c[i]);
  return models::MakeReport(matrix, clips_.size() ? c[n * n] / clips_.size() : 0.0);
}

}  // namespace chorus::train
