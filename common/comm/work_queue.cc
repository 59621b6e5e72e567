#include "common/comm/work_queue.h"

namespace chorus::comm {

Status QueuedWork::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_until(lock, deadline_, [&] { return done_; })) {
    return DeadlineExceeded(description_ + " did not finish in time (a peer rank may have died or stalled)");
  }
  return status_;
}

bool QueuedWork::IsCompleted() {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

void QueuedWork::Complete(Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  status_ = std::move(status);
  done_ = true;
  cv_.notify_all();
}

WorkQueue::WorkQueue(std::string who) : who_(std::move(who)), thread_(&WorkQueue::Loop, this) {}

WorkQueue::~WorkQueue() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  thread_.join();
}

WorkPtr WorkQueue::Enqueue(const std::string& kind, const std::string& tag, std::chrono::milliseconds timeout,
                           std::function<Status()> op) {
  auto work = std::make_shared<QueuedWork>(
      who_ + ": " + kind + " '" + tag + "' (timeout " + std::to_string(timeout.count() / 1000.0).substr(0, 6) + " s)",
      std::chrono::steady_clock::now() + timeout);
  std::lock_guard<std::mutex> lock(mu_);
  ops_.emplace_back(std::move(op), work);
  cv_.notify_all();
  return work;
}

void WorkQueue::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !ops_.empty(); });
    if (ops_.empty()) return;  // stopping and drained
    auto [op, work] = std::move(ops_.front());
    ops_.pop_front();
    lock.unlock();
    Status st;
    try {
      st = op();
    } catch (const std::exception& e) {
      st = Internal(e.what());
    }
    work->Complete(std::move(st));
    lock.lock();
  }
}

}  // namespace chorus::comm
