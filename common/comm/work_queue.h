// WorkQueue: runs a communicator's collectives one after another on its own
// thread, in the order they were issued, and hands back Work handles whose
// Wait() gives up at a deadline (issue time + timeout) with a message naming
// the rank and the collective. Shared by the MPI and in-process backends.
// Thread-safe: Enqueue from one thread, Wait from any.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/comm/communicator.h"

namespace chorus::comm {

class QueuedWork : public Work {
 public:
  QueuedWork(std::string description, std::chrono::steady_clock::time_point deadline)
      : description_(std::move(description)), deadline_(deadline) {}

  Status Wait() override;
  bool IsCompleted() override;
  void Complete(Status status);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Status status_;
  std::string description_;
  std::chrono::steady_clock::time_point deadline_;
};

class WorkQueue {
 public:
  // `who` prefixes timeout messages, e.g. "rank 1 of 2 (mpi)".
  explicit WorkQueue(std::string who);
  ~WorkQueue();  // finishes queued operations, then joins

  // op runs on the queue's thread; its Status completes the Work.
  WorkPtr Enqueue(const std::string& kind, const std::string& tag, std::chrono::milliseconds timeout,
                  std::function<Status()> op);

 private:
  void Loop();

  std::string who_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::function<Status()>, std::shared_ptr<QueuedWork>>> ops_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace chorus::comm
