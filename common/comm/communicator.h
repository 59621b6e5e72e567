// Communicator: the data plane between the ranks of one training job. All
// gradients, parameters and metrics that cross ranks go through it; nothing
// else in Chorus knows which backend moves the bytes.
//
// Every collective is asynchronous: it is queued at once and returns a Work
// handle; the caller keeps computing and calls Wait() when it needs the
// result. Collectives run in the order they were issued, and every rank must
// issue the same collectives in the same order (as with MPI and NCCL).
// Tensors are contiguous, on the communicator's device, and must not be
// touched until the Work completes. `tag` describes the call ("step 12
// bucket 3") and appears in timeout errors.
//
// Wait() gives up after the communicator's timeout and returns
// DeadlineExceeded naming the rank and the tag; a peer that died or stalls
// never hangs the caller forever. Abort() then ends the whole job.
//
// Thread-safety: one thread issues collectives; Work handles may be waited on
// from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "common/util/status.h"

namespace chorus::comm {

enum class ReduceOp { kSum, kAverage };

class Work {
 public:
  virtual ~Work() = default;
  // Blocks until the collective finished (OK), failed, or timed out.
  virtual Status Wait() = 0;
  virtual bool IsCompleted() = 0;
};
using WorkPtr = std::shared_ptr<Work>;

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend() const = 0;  // "mpi", "nccl", "local"

  // In place on every rank.
  virtual WorkPtr AllReduce(at::Tensor tensor, ReduceOp op, const std::string& tag) = 0;
  // In place: root's tensor is copied to every rank.
  virtual WorkPtr Broadcast(at::Tensor tensor, int root, const std::string& tag) = 0;
  // output: world_size * input.numel() elements; rank r's input lands at [r*n, (r+1)*n).
  virtual WorkPtr AllGather(at::Tensor output, at::Tensor input, const std::string& tag) = 0;
  // input: world_size * output.numel() elements; rank r receives the reduction of
  // every rank's segment r.
  virtual WorkPtr ReduceScatter(at::Tensor output, at::Tensor input, ReduceOp op, const std::string& tag) = 0;
  virtual WorkPtr Barrier(const std::string& tag) = 0;

  // Ends every rank of the job with `why` in the log (MPI_Abort for MPI).
  [[noreturn]] virtual void Abort(const Status& why) = 0;

  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

 private:
  std::chrono::milliseconds timeout_{std::chrono::minutes(5)};
};

// Waits for a collective and returns its Status (convenience for the common
// synchronous use).
inline Status Run(const WorkPtr& work) { return work->Wait(); }

}  // namespace chorus::comm
