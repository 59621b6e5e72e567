#include "worker/train/mixup.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include <torch/torch.h>

namespace chorus::train {

MixPlan PlanMixup(int64_t batch, double alpha, uint64_t seed) {
  std::mt19937_64 rng(seed);
  // Beta(a, a) as X / (X + Y) with X, Y ~ Gamma(a, 1).
  std::gamma_distribution<double> gamma(alpha, 1.0);
  const double x = gamma(rng), y = gamma(rng);
  MixPlan plan;
  plan.lambda = x + y > 0 ? x / (x + y) : 1.0;
  plan.lambda = std::max(plan.lambda, 1.0 - plan.lambda);
  std::vector<int64_t> perm(static_cast<size_t>(batch));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  plan.perm = torch::tensor(perm, torch::kInt64);
  return plan;
}

at::Tensor MixBatch(const at::Tensor& x, const MixPlan& plan) {
  const at::Tensor partner = x.index_select(0, plan.perm.to(x.device()));
  return x * plan.lambda + partner * (1.0 - plan.lambda);
}

}  // namespace chorus::train
