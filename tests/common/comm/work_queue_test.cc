// WorkQueue and QueuedWork: order, one thread, status passing, exceptions,
// the issue-time deadline and its message, and draining on destruction.
#include "common/comm/work_queue.h"

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chorus::comm {
namespace {

using ::testing::HasSubstr;
using std::chrono::milliseconds;

TEST(WorkQueueTest, RunsInIssueOrderOnOneThread) {
  WorkQueue queue("rank 0 of 1 (test)");
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  std::vector<WorkPtr> works;
  for (int i = 0; i < 100; ++i) {
    works.push_back(queue.Enqueue("op", std::to_string(i), milliseconds(10000), [&, i] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
      threads.push_back(std::this_thread::get_id());
      return Status::Ok();
    }));
  }
  for (auto it = works.rbegin(); it != works.rend(); ++it) ASSERT_TRUE((*it)->Wait().ok());
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  for (const auto& id : threads) {
    EXPECT_EQ(id, threads[0]);
    EXPECT_NE(id, std::this_thread::get_id());
  }
}

TEST(WorkQueueTest, WaitReturnsTheOpsStatus) {
  WorkQueue queue("rank 0 of 1 (test)");
  Status st = queue.Enqueue("op", "t", milliseconds(10000), [] { return Unavailable("peer went away"); })->Wait();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "peer went away");
}

TEST(WorkQueueTest, ExceptionBecomesInternalAndTheQueueGoesOn) {
  WorkQueue queue("rank 0 of 1 (test)");
  WorkPtr bad = queue.Enqueue("op", "t", milliseconds(10000), []() -> Status { throw std::runtime_error("boom"); });
  WorkPtr good = queue.Enqueue("op", "t", milliseconds(10000), [] { return Status::Ok(); });
  Status st = bad->Wait();
  EXPECT_EQ(st.code(), StatusCode::kInternal);
  EXPECT_THAT(st.message(), HasSubstr("boom"));
  EXPECT_TRUE(good->Wait().ok());
}

TEST(WorkQueueTest, IsCompletedOnlyAfterTheOpRan) {
  WorkQueue queue("rank 0 of 1 (test)");
  std::promise<void> release;
  auto released = release.get_future().share();
  WorkPtr work = queue.Enqueue("op", "t", milliseconds(10000), [released] {
    released.wait();
    return Status::Ok();
  });
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_FALSE(work->IsCompleted());
  release.set_value();
  EXPECT_TRUE(work->Wait().ok());
  EXPECT_TRUE(work->IsCompleted());
}

TEST(WorkQueueTest, DeadlineNamesWhoKindTagAndTimeout) {
  WorkQueue queue("rank 2 of 4 (test)");
  std::promise<void> release;
  auto released = release.get_future().share();
  const auto start = std::chrono::steady_clock::now();
  WorkPtr work = queue.Enqueue("all_reduce", "step 12 bucket 3", milliseconds(50), [released] {
    released.wait();
    return Status::Ok();
  });
  Status st = work->Wait();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded);
  EXPECT_THAT(st.message(), HasSubstr("rank 2 of 4 (test): all_reduce 'step 12 bucket 3' (timeout 0.0500 s)"));
  EXPECT_GE(elapsed, milliseconds(45));
  EXPECT_LT(elapsed, milliseconds(5000));
  EXPECT_FALSE(work->IsCompleted());
  // Once the op does finish, the work carries its result.
  release.set_value();
  for (int i = 0; i < 1000 && !work->IsCompleted(); ++i) std::this_thread::sleep_for(milliseconds(1));
  EXPECT_TRUE(work->IsCompleted());
  EXPECT_TRUE(work->Wait().ok());
}

TEST(WorkQueueTest, DeadlineCountsFromIssueNotFromStart) {
  WorkQueue queue("rank 0 of 1 (test)");
  std::promise<void> release;
  auto released = release.get_future().share();
  const auto start = std::chrono::steady_clock::now();
  WorkPtr slow = queue.Enqueue("op", "slow", milliseconds(10000), [released] {
    released.wait();
    return Status::Ok();
  });
  // Queued behind `slow`, so it never starts: still gives up after 50 ms.
  WorkPtr queued = queue.Enqueue("op", "queued", milliseconds(50), [] { return Status::Ok(); });
  EXPECT_EQ(queued->Wait().code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(5000));
  release.set_value();
  EXPECT_TRUE(slow->Wait().ok());
}

TEST(WorkQueueTest, DestructorFinishesQueuedOps) {
  std::atomic<int> ran{0};
  std::vector<WorkPtr> works;
  {
    WorkQueue queue("rank 0 of 1 (test)");
    for (int i = 0; i < 20; ++i) {
      works.push_back(queue.Enqueue("op", "t", milliseconds(10000), [&] {
        std::this_thread::sleep_for(milliseconds(1));
        ran.fetch_add(1);
        return Status::Ok();
      }));
    }
  }
  EXPECT_EQ(ran.load(), 20);
  for (auto& w : works) {
    EXPECT_TRUE(w->IsCompleted());
    EXPECT_TRUE(w->Wait().ok());
  }
}

TEST(QueuedWorkTest, CompleteWakesEveryWaiter) {
  auto work = std::make_shared<QueuedWork>("w", std::chrono::steady_clock::now() + std::chrono::seconds(10));
  std::vector<std::future<Status>> waiters;
  for (int i = 0; i < 4; ++i) waiters.push_back(std::async(std::launch::async, [work] { return work->Wait(); }));
  std::this_thread::sleep_for(milliseconds(10));
  work->Complete(Cancelled("stopped"));
  for (auto& f : waiters) EXPECT_EQ(f.get().code(), StatusCode::kCancelled);
}

}  // namespace
}  // namespace chorus::comm
