#include "worker/train/progress.h"

#include <spdlog/spdlog.h>

namespace chorus::train {
namespace {

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else std::snprintf(buf, sizeof buf, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

}  // namespace

void LogProgressReporter::OnStep(const StepProgress& p) {
  spdlog::info("step {}/{} ({:.0f}%) epoch {} loss {:.4f} acc {:.3f} lr {:.2e} {:.0f} samples/s eta {}", p.step,
               p.total_steps, 100.0 * p.step / std::max<int64_t>(1, p.total_steps), p.epoch, p.loss, p.accuracy,
               p.learning_rate, p.samples_per_second, FormatDuration(p.eta_seconds));
}

void LogProgressReporter::OnEvaluation(int64_t step, const std::string& split, const tasks::TaskReport& r) {
  spdlog::info("step {} {}: {} {:.4f} loss {:.4f} over {} examples", step, split, r.score_name, r.score, r.loss,
               r.count);
}

void LogProgressReporter::OnCheckpoint(int64_t step, const std::string& path) {
  spdlog::info("step {} checkpoint {}", step, path);
}

}  // namespace chorus::train
