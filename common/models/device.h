// Devices: turns a device name from a job file or a command line (cpu, cuda,
// cuda:N; see config::IsDeviceName) into a LibTorch device this process can
// use, with an error that says why not (this LibTorch has no CUDA, no GPU is
// visible, the index is out of range). One rank per GPU: with plain "cuda" a
// rank takes GPU local_rank modulo the GPUs it sees, so N ranks on a host of
// N GPUs, or one rank per task under Slurm's --gpus-per-task, each get their
// own. Thread-safe.
#pragma once

#include <string>

#include <c10/core/Device.h>

#include "common/util/status.h"

namespace chorus::models {

Result<c10::Device> ResolveDevice(const std::string& name, int local_rank = 0);

// Number of CUDA GPUs this process can use (0 without CUDA).
int CudaDeviceCount();

// Process-wide CUDA numerics. true: deterministic cuDNN algorithms (no
// autotuning) and no TF32, for bit-identical reruns; false leaves LibTorch's
// defaults (cuDNN may use TF32 for convolutions, as in PyTorch). No effect
// on the CPU.
void SetCudaDeterministic(bool deterministic);

}  // namespace chorus::models
