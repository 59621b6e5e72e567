// MpiCommunicator: collectives on CPU tensors over MPI. Each communicator
// duplicates MPI_COMM_WORLD and runs its collectives, in order, on its own
// progress thread with MPI's blocking calls (MPI_Allreduce, ...): the
// training thread keeps computing while gradients move, and the collectives
// get MPI's tuned blocking algorithms, which on one host move data 2-4x
// faster than the non-blocking ones (bench/allreduce_bench). The caller's
// Wait() keeps its own deadline, so a peer that never arrives still turns
// into a DeadlineExceeded (and Abort). Created through the factory
// (factory.h). See communicator.h for the contract.
#pragma once

#include <memory>

#include "common/comm/communicator.h"
#include "common/comm/work_queue.h"

namespace chorus::comm {

class MpiCommunicator : public Communicator {
 public:
  // MpiRuntime::Initialize() must have succeeded.
  static Result<std::unique_ptr<MpiCommunicator>> Create();
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend() const override { return "mpi"; }

  WorkPtr AllReduce(at::Tensor tensor, ReduceOp op, const std::string& tag) override;
  WorkPtr Broadcast(at::Tensor tensor, int root, const std::string& tag) override;
  WorkPtr AllGather(at::Tensor output, at::Tensor input, const std::string& tag) override;
  WorkPtr ReduceScatter(at::Tensor output, at::Tensor input, ReduceOp op, const std::string& tag) override;
  WorkPtr Barrier(const std::string& tag) override;
  [[noreturn]] void Abort(const Status& why) override;

 private:
  MpiCommunicator(void* comm, int rank, int world_size);
  void* comm_;  // MPI_Comm, kept opaque so this header does not need mpi.h
  int rank_;
  int world_size_;
  std::unique_ptr<WorkQueue> queue_;
};

}  // namespace chorus::comm
