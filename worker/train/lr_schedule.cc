#include "worker/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace chorus::train {

double LearningRateAt(const config::ScheduleSpec& s, double base_lr, int64_t step, int64_t total_steps) {
  if (s.warmup_steps > 0 && step < s.warmup_steps) {
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  }
  const int64_t after = step - s.warmup_steps;
  if (s.kind == "step") return base_lr * std::pow(s.gamma, static_cast<double>(after / s.step_size));
  if (s.kind == "cosine") {
    const int64_t span = std::max<int64_t>(1, total_steps - s.warmup_steps);
    const double progress = std::clamp(static_cast<double>(after) / static_cast<double>(span), 0.0, 1.0);
    const double floor = base_lr * s.min_lr_ratio;
    return floor + (base_lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  return base_lr;
}

}  // namespace chorus::train
