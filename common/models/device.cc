#include "common/models/device.h"

#include <ATen/Context.h>
#include <torch/cuda.h>

namespace chorus::models {

int CudaDeviceCount() { return torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0; }

Result<c10::Device> ResolveDevice(const std::string& name, int local_rank) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name != "cuda" && name.rfind("cuda:", 0) != 0) {
    return InvalidArgument("device must be cpu, cuda or cuda:N; got '" + name + "'");
  }
  const int count = CudaDeviceCount();
  if (count == 0) {
    return FailedPrecondition("device " + name +
                              ": no CUDA GPU is usable by this process (LibTorch built without CUDA, or no GPU "
                              "visible: check nvidia-smi and CUDA_VISIBLE_DEVICES)");
  }
  int index = local_rank % count;
  if (name != "cuda") {
    try {
      index = std::stoi(name.substr(5));
    } catch (const std::exception&) {
      return InvalidArgument("device must be cpu, cuda or cuda:N; got '" + name + "'");
    }
    if (index < 0 || index >= count) {
      return InvalidArgument("device " + name + ": this process sees " + std::to_string(count) + " GPU(s), " +
                             "numbered 0 to " + std::to_string(count - 1));
    }
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void SetCudaDeterministic(bool deterministic) {
  if (!deterministic) return;  // LibTorch's defaults, as PyTorch's
  at::Context& context = at::globalContext();
  context.setDeterministicCuDNN(true);
  context.setBenchmarkCuDNN(false);
  context.setAllowTF32CuDNN(false);  // matrix products already default to full float32
}

}  // namespace chorus::models
