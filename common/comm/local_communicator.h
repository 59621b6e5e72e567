// LocalCommunicator: N ranks as N threads of one process, for tests of
// everything built on Communicator (bucketing, sharded optimizers, metric
// reduction) without MPI. Make a group with LocalCommunicator::CreateGroup(n);
// give communicator r to the thread playing rank r. Same contract as every
// Communicator, including the timeout when a peer never arrives.
#pragma once

#include <memory>
#include <vector>

#include "common/comm/communicator.h"
#include "common/comm/work_queue.h"

namespace chorus::comm {

namespace internal {
struct LocalGroupState;
}

class LocalCommunicator : public Communicator {
 public:
  static std::vector<std::unique_ptr<LocalCommunicator>> CreateGroup(int world_size);
  ~LocalCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  std::string backend() const override { return "local"; }

  WorkPtr AllReduce(at::Tensor tensor, ReduceOp op, const std::string& tag) override;
  WorkPtr Broadcast(at::Tensor tensor, int root, const std::string& tag) override;
  WorkPtr AllGather(at::Tensor output, at::Tensor input, const std::string& tag) override;
  WorkPtr ReduceScatter(at::Tensor output, at::Tensor input, ReduceOp op, const std::string& tag) override;
  WorkPtr Barrier(const std::string& tag) override;
  [[noreturn]] void Abort(const Status& why) override;

 private:
  LocalCommunicator(std::shared_ptr<internal::LocalGroupState> group, int rank, int world_size);
  // Runs `combine` once all ranks have contributed to collective `seq`.
  WorkPtr Collective(const char* kind, const std::string& tag, at::Tensor in, at::Tensor out,
                     std::function<void(const std::vector<at::Tensor>& ins, const std::vector<at::Tensor>& outs)> combine);

  std::shared_ptr<internal::LocalGroupState> group_;
  int rank_;
  int world_size_;
  int64_t next_seq_ = 0;
  std::unique_ptr<WorkQueue> queue_;
};

}  // namespace chorus::comm
