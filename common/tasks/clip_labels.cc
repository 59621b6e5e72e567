#include "common/tasks/clip_labels.h"

#include <torch/torch.h>

namespace chorus::tasks {

at::Tensor ClipLabel(const data::Example& example) {
  return torch::tensor(static_cast<int64_t>(example.label), torch::kInt64);
}

Targets CollateClipLabels(const std::vector<at::Tensor>& per_example, bool pin_memory) {
  Targets t;
  t.labels = torch::empty({static_cast<int64_t>(per_example.size())},
                          torch::TensorOptions().dtype(torch::kInt64).pinned_memory(pin_memory));
  auto a = t.labels.accessor<int64_t, 1>();
  for (size_t i = 0; i < per_example.size(); ++i) a[static_cast<int64_t>(i)] = per_example[i].item<int64_t>();
  return t;
}

at::Tensor ArgmaxDecisions(const at::Tensor& output, const Targets& t) {
  torch::NoGradGuard no_grad;
  const torch::Tensor right = output.argmax(1).eq(t.labels).sum().to(torch::kFloat64);
  return torch::stack({right, torch::full({}, static_cast<double>(t.labels.size(0)), right.options())});
}

}  // namespace chorus::tasks
