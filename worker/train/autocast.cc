#include "worker/train/autocast.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

// LibTorch 2.4 replaced the per-device autocast functions (set_enabled for
// CUDA, set_cpu_enabled, ...) by ones taking the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define CHORUS_AUTOCAST_BY_DEVICE_TYPE 1
#else
#define CHORUS_AUTOCAST_BY_DEVICE_TYPE 0
#endif

namespace chorus::train {
namespace {

bool IsEnabled(c10::DeviceType d) {
#if CHORUS_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(d);
#else
  return d == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

void SetEnabled(c10::DeviceType d, bool enabled) {
#if CHORUS_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(d, enabled);
#else
  if (d == c10::kCUDA) at::autocast::set_enabled(enabled);
  else at::autocast::set_cpu_enabled(enabled);
#endif
}

c10::ScalarType GetDtype(c10::DeviceType d) {
#if CHORUS_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::get_autocast_dtype(d);
#else
  return d == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

void SetDtype(c10::DeviceType d, c10::ScalarType dtype) {
#if CHORUS_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(d, dtype);
#else
  if (d == c10::kCUDA) at::autocast::set_autocast_gpu_dtype(dtype);
  else at::autocast::set_autocast_cpu_dtype(dtype);
#endif
}

}  // namespace

AutocastScope::AutocastScope(c10::DeviceType device_type, bool enabled)
    : device_type_(device_type), enabled_(enabled) {
  if (!enabled_) return;
  was_enabled_ = IsEnabled(device_type_);
  previous_dtype_ = GetDtype(device_type_);
  SetDtype(device_type_, c10::ScalarType::BFloat16);
  SetEnabled(device_type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!enabled_) return;
  // Casts of the weights are cached for the outermost scope only.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  SetEnabled(device_type_, was_enabled_);
  SetDtype(device_type_, previous_dtype_);
}

}  // namespace chorus::train
