// Mixup (Zhang et al., "mixup: Beyond Empirical Risk Minimization", 2018)
// for one training batch: every example is blended with another example of
// the same batch, x' = lambda * x + (1 - lambda) * x[perm], and the loss is
// lambda * L(output, y) + (1 - lambda) * L(output, y[perm]). lambda is drawn
// from Beta(alpha, alpha) and folded to [0.5, 1], so each blend keeps its own
// example's label as the larger part (the training accuracy stays
// meaningful). Between examples, the model is taught to answer in
// proportion; that smoother boundary is why it is tried for keyword spotting
// on speakers training never heard.
//
// Plans are deterministic in their seed (StepRunner derives it from the
// run's seed, the step and the micro-batch), so a resumed run mixes as the
// uninterrupted one did. Pure functions, thread-safe.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace chorus::train {

struct MixPlan {
  double lambda = 1;  // in [0.5, 1]: the weight of each example itself
  at::Tensor perm;    // [batch] int64, made on the host: the partner of each example
};

// alpha > 0; batch >= 1.
MixPlan PlanMixup(int64_t batch, double alpha, uint64_t seed);

// lambda * x + (1 - lambda) * x[perm] along the first dimension (x on any device).
at::Tensor MixBatch(const at::Tensor& x, const MixPlan& plan);

}  // namespace chorus::train
