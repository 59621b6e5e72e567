// NcclCommunicator: collectives on CUDA tensors with NCCL. Rank 0 creates the
// NCCL unique id and broadcasts it over MPI (MpiRuntime must be initialized).
// Each collective runs on the communicator's own CUDA stream: it first waits
// for an event recorded on the caller's current stream (so it sees the
// finished gradients), and Wait() makes the caller's stream wait for the
// collective's completion event, polling it against the timeout; on timeout
// the NCCL communicator is aborted (ncclCommAbort) so no kernel keeps
// spinning for a peer, Wait returns DeadlineExceeded naming the rank, the
// collective and its tag, and every later collective fails at once with
// Unavailable. Wait() blocks the host until the collective is done on the GPU
// (c10d instead returns at once and leaves timeouts to a watchdog thread);
// the trainer waits only after backward has queued all its work, so this
// costs the gap between the last bucket's reduction and the optimizer step.
// Compiled only when CHORUS_WITH_NCCL. See communicator.h for the contract.
#pragma once

#include <memory>

#include <c10/core/Device.h>

#include "common/comm/communicator.h"

namespace chorus::comm {

class NcclCommunicator : public Communicator {
 public:
  static Result<std::unique_ptr<NcclCommunicator>> Create(c10::Device device);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend() const override { return "nccl"; }

  WorkPtr AllReduce(at::Tensor tensor, ReduceOp op, const std::string& tag) override;
  WorkPtr Broadcast(at::Tensor tensor, int root, const std::string& tag) override;
  WorkPtr AllGather(at::Tensor output, at::Tensor input, const std::string& tag) override;
  WorkPtr ReduceScatter(at::Tensor output, at::Tensor input, ReduceOp op, const std::string& tag) override;
  WorkPtr Barrier(const std::string& tag) override;
  [[noreturn]] void Abort(const Status& why) override;

  struct State;  // NCCL communicator, stream and device (defined in the .cc)

 private:
  NcclCommunicator(std::shared_ptr<State> state, int rank, int world_size);
  std::shared_ptr<State> state_;
  int rank_;
  int world_size_;
};

}  // namespace chorus::comm
