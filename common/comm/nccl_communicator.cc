#include "common/comm/nccl_communicator.h"

#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>

#include <mutex>
#include <thread>

#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <spdlog/spdlog.h>

#include "common/comm/collective_util.h"
#include "common/comm/work_queue.h"

namespace chorus::comm {

struct NcclCommunicator::State {
  std::mutex mu;               // guards comm against an abort from another thread's Wait
  ncclComm_t comm = nullptr;   // null once aborted
  cudaStream_t stream = nullptr;
  c10::Device device = c10::Device(c10::kCUDA, 0);
  std::string who;
  std::string aborted_by;      // the collective whose timeout aborted the communicator

  // Ends every NCCL operation of this communicator, queued or running, so no
  // kernel keeps spinning for a peer that will never come.
  void AbortLocked(const std::string& why) {
    if (!comm) return;
    ncclCommAbort(comm);
    comm = nullptr;
    aborted_by = why;
  }
};

namespace {

Result<ncclDataType_t> NcclType(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
    case at::kBFloat16: return ncclBfloat16;
    case at::kLong: return ncclInt64;
    case at::kInt: return ncclInt32;
    case at::kByte: return ncclUint8;
    default: return InvalidArgument(std::string("NCCL does not support dtype ") + c10::toString(t.scalar_type()));
  }
}

ncclRedOp_t NcclOp(ReduceOp op) { return op == ReduceOp::kAverage ? ncclAvg : ncclSum; }

Status CudaCheck(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return Internal(std::string(what) + ": " + cudaGetErrorString(e));
}

Status NcclCheck(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return Status::Ok();
  return Unavailable(std::string(what) + ": " + ncclGetErrorString(r));
}

// One launched collective: completion event, the tensors it must keep alive,
// and the deadline after which the NCCL communicator is aborted.
class NcclWork : public Work {
 public:
  NcclWork(std::shared_ptr<NcclCommunicator::State> state, std::vector<at::Tensor> keep, std::string description,
           std::chrono::milliseconds timeout)
      : state_(std::move(state)), keep_(std::move(keep)), description_(std::move(description)), timeout_(timeout),
        deadline_(std::chrono::steady_clock::now() + timeout) {
    cudaEventCreateWithFlags(&done_, cudaEventDisableTiming);
  }
  ~NcclWork() override { cudaEventDestroy(done_); }

  Status launch_status;
  cudaEvent_t done_event() const { return done_; }

  bool IsCompleted() override { return cudaEventQuery(done_) == cudaSuccess; }

  Status Wait() override {
    RETURN_IF_ERROR(launch_status);
    while (true) {
      cudaError_t q = cudaEventQuery(done_);
      if (q == cudaSuccess) break;
      if (q != cudaErrorNotReady) return CudaCheck(q, description_.c_str());
      {
        std::lock_guard<std::mutex> lock(state_->mu);
        if (!state_->comm) return Unavailable(description_ + ": the communicator was aborted (" + state_->aborted_by + ")");
        ncclResult_t async_error = ncclSuccess;
        ncclCommGetAsyncError(state_->comm, &async_error);
        if (async_error != ncclSuccess) return NcclCheck(async_error, description_.c_str());
        if (std::chrono::steady_clock::now() > deadline_) {
          state_->AbortLocked(description_ + " timed out");
          return DeadlineExceeded(description_ + " did not finish in " + std::to_string(timeout_.count()) +
                                  " ms (a peer rank may have died or stalled); the NCCL communicator was aborted");
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    // Later work on the caller's stream sees the collective's result.
    c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(state_->device.index());
    return CudaCheck(cudaStreamWaitEvent(current.stream(), done_, 0), "cudaStreamWaitEvent");
  }

 private:
  std::shared_ptr<NcclCommunicator::State> state_;
  std::vector<at::Tensor> keep_;
  std::string description_;
  std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point deadline_;
  cudaEvent_t done_ = nullptr;
};


Status CheckCuda(const at::Tensor& t, c10::Device device, const char* what) {
  if (!t.defined() || !t.is_cuda() || t.device() != device) {
    return InvalidArgument(std::string(what) + " tensor must be on " + device.str());
  }
  if (!t.is_contiguous()) return InvalidArgument(std::string(what) + " tensor must be contiguous");
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(c10::Device device) {
  int mpi_ready = 0;
  MPI_Initialized(&mpi_ready);
  if (!mpi_ready) return FailedPrecondition("NCCL needs MPI to share its unique id; MPI is not initialized");
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  ncclUniqueId id;
  if (rank == 0) RETURN_IF_ERROR(NcclCheck(ncclGetUniqueId(&id), "ncclGetUniqueId"));
  if (MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
    return Unavailable("broadcasting the NCCL unique id over MPI failed");
  }
  auto state = std::make_shared<State>();
  state->device = device;
  state->who = "rank " + std::to_string(rank) + " of " + std::to_string(size) + " (nccl, " + device.str() + ")";
  c10::cuda::CUDAGuard guard(device);
  RETURN_IF_ERROR(CudaCheck(cudaStreamCreateWithFlags(&state->stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  RETURN_IF_ERROR(NcclCheck(ncclCommInitRank(&state->comm, size, id, rank), "ncclCommInitRank"));
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(std::move(state), rank, size));
}

NcclCommunicator::NcclCommunicator(std::shared_ptr<State> state, int rank, int world_size)
    : state_(std::move(state)), rank_(rank), world_size_(world_size) {}

NcclCommunicator::~NcclCommunicator() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->comm) ncclCommDestroy(state_->comm);
    state_->comm = nullptr;
  }
  if (state_->stream) cudaStreamDestroy(state_->stream);
}

namespace {

// Orders a collective after the caller's pending work, launches it on the
// NCCL stream, and records its completion event.
WorkPtr Launch(const std::shared_ptr<NcclCommunicator::State>& state, std::vector<at::Tensor> keep,
               const std::string& kind, const std::string& tag, std::chrono::milliseconds timeout,
               const std::function<ncclResult_t(cudaStream_t)>& call) {
  c10::cuda::CUDAGuard guard(state->device);
  std::lock_guard<std::mutex> lock(state->mu);
  if (!state->comm) {
    return FinishedWork(Unavailable(state->who + ": " + kind + " '" + tag + "': the communicator was aborted (" +
                                state->aborted_by + ")"));
  }
  auto work = std::make_shared<NcclWork>(state, std::move(keep), state->who + ": " + kind + " '" + tag + "'", timeout);
  cudaEvent_t ready;
  cudaEventCreateWithFlags(&ready, cudaEventDisableTiming);
  c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(state->device.index());
  Status st = CudaCheck(cudaEventRecord(ready, current.stream()), "cudaEventRecord");
  if (st.ok()) st = CudaCheck(cudaStreamWaitEvent(state->stream, ready, 0), "cudaStreamWaitEvent");
  if (st.ok()) st = NcclCheck(call(state->stream), kind.c_str());
  if (st.ok()) st = CudaCheck(cudaEventRecord(work->done_event(), state->stream), "cudaEventRecord");
  cudaEventDestroy(ready);
  work->launch_status = st;
  return work;
}

}  // namespace

WorkPtr NcclCommunicator::AllReduce(at::Tensor tensor, ReduceOp op, const std::string& tag) {
  if (Status st = CheckCuda(tensor, state_->device, "all_reduce"); !st.ok()) return FinishedWork(st);
  auto type = NcclType(tensor);
  if (!type.ok()) return FinishedWork(type.status());
  return Launch(state_, {tensor}, "all_reduce", tag, timeout(), [&](cudaStream_t s) {
    return ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(), *type, NcclOp(op), state_->comm, s);
  });
}

WorkPtr NcclCommunicator::Broadcast(at::Tensor tensor, int root, const std::string& tag) {
  if (Status st = CheckCuda(tensor, state_->device, "broadcast"); !st.ok()) return FinishedWork(st);
  auto type = NcclType(tensor);
  if (!type.ok()) return FinishedWork(type.status());
  return Launch(state_, {tensor}, "broadcast", tag, timeout(), [&](cudaStream_t s) {
    return ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(), *type, root, state_->comm, s);
  });
}

WorkPtr NcclCommunicator::AllGather(at::Tensor output, at::Tensor input, const std::string& tag) {
  if (Status st = CheckCuda(output, state_->device, "all_gather output"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckCuda(input, state_->device, "all_gather input"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckGatherSizes(output, input, world_size_, "all_gather"); !st.ok()) return FinishedWork(st);
  auto type = NcclType(input);
  if (!type.ok()) return FinishedWork(type.status());
  return Launch(state_, {output, input}, "all_gather", tag, timeout(), [&](cudaStream_t s) {
    return ncclAllGather(input.data_ptr(), output.data_ptr(), input.numel(), *type, state_->comm, s);
  });
}

WorkPtr NcclCommunicator::ReduceScatter(at::Tensor output, at::Tensor input, ReduceOp op, const std::string& tag) {
  if (Status st = CheckCuda(output, state_->device, "reduce_scatter output"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckCuda(input, state_->device, "reduce_scatter input"); !st.ok()) return FinishedWork(st);
  if (Status st = CheckGatherSizes(input, output, world_size_, "reduce_scatter"); !st.ok()) return FinishedWork(st);
  auto type = NcclType(input);
  if (!type.ok()) return FinishedWork(type.status());
  return Launch(state_, {output, input}, "reduce_scatter", tag, timeout(), [&](cudaStream_t s) {
    return ncclReduceScatter(input.data_ptr(), output.data_ptr(), output.numel(), *type, NcclOp(op), state_->comm, s);
  });
}

WorkPtr NcclCommunicator::Barrier(const std::string& tag) {
  // NCCL has no barrier: an all-reduce of one element orders every rank.
  at::Tensor one = at::ones({1}, at::TensorOptions().device(state_->device));
  return AllReduce(one, ReduceOp::kSum, tag);
}

void NcclCommunicator::Abort(const Status& why) {
  spdlog::critical("{}: aborting the job: {}", state_->who, why.ToString());
  spdlog::default_logger()->flush();
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->AbortLocked(why.ToString());
  }
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

}  // namespace chorus::comm
