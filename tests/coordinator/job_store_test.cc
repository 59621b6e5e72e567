#include "coordinator/training/job_store.h"

#include <fstream>

#include <gtest/gtest.h>

#include "tests/coordinator/coordinator_test_util.h"

namespace chorus::coordinator {
namespace {

using testing::TempDir;

proto::Job NewJob(const std::string& name, int priority = 0) {
  proto::Job job;
  job.set_name(name);
  job.set_state(proto::PENDING);
  job.set_ranks(2);
  job.set_launcher("local");
  job.set_priority(priority);
  job.set_submitted_at(123.5);
  return job;
}

TEST(JobStore, CreatesLoadsAndListsJobs) {
  TempDir dir;
  auto store = JobStore::Open(dir.path() + "/jobs.db");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  proto::Job a = NewJob("a"), b = NewJob("b", 5);
  auto id_a = (*store)->CreateJob(&a, "name: a\n");
  auto id_b = (*store)->CreateJob(&b, "name: b\n");
  ASSERT_TRUE(id_a.ok() && id_b.ok());
  EXPECT_EQ(a.id(), *id_a);
  EXPECT_LT(*id_a, *id_b);

  auto loaded = (*store)->LoadJob(*id_b);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->name(), "b");
  EXPECT_EQ(loaded->priority(), 5);
  EXPECT_EQ(loaded->ranks(), 2);
  EXPECT_EQ(*(*store)->JobSpec(*id_a), "name: a\n");

  auto list = (*store)->ListJobs(false, 0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name(), "b");  // newest first

  b.set_state(proto::SUCCEEDED);
  ASSERT_TRUE((*store)->SaveJob(b).ok());
  auto active = (*store)->ListJobs(true, 0);
  ASSERT_EQ(active->size(), 1u);
  EXPECT_EQ((*active)[0].name(), "a");
}

TEST(JobStore, UnknownIdIsNotFound) {
  TempDir dir;
  auto store = JobStore::Open(dir.path() + "/jobs.db");
  auto job = (*store)->LoadJob(42);
  EXPECT_EQ(job.status().code(), StatusCode::kNotFound);
  EXPECT_NE(job.status().message().find("42"), std::string::npos);
  proto::Job ghost = NewJob("ghost");
  ghost.set_id(42);
  EXPECT_EQ((*store)->SaveJob(ghost).code(), StatusCode::kNotFound);
}

TEST(JobStore, EverythingSurvivesReopening) {
  TempDir dir;
  const std::string path = dir.path() + "/jobs.db";
  int64_t id = 0;
  {
    auto store = JobStore::Open(path);
    proto::Job job = NewJob("durable");
    id = *(*store)->CreateJob(&job, "spec");
    proto::Attempt attempt;
    attempt.set_number(1);
    attempt.set_handle("4242");
    attempt.set_state("RUNNING");
    ASSERT_TRUE((*store)->SaveAttempt(id, attempt).ok());
    proto::Progress p;
    p.set_step(10);
    p.set_loss(0.5);
    ASSERT_TRUE((*store)->AppendProgress(id, p).ok());
    p.set_step(20);
    ASSERT_TRUE((*store)->AppendProgress(id, p).ok());
    proto::Evaluation e;
    e.set_step(20);
    e.set_split("validation");
    e.set_accuracy(0.75);
    ASSERT_TRUE((*store)->AppendEvaluation(id, e).ok());
  }
  auto store = JobStore::Open(path);
  ASSERT_TRUE(store.ok());
  auto job = (*store)->LoadJob(id, /*history=*/true);
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->attempt_history_size(), 1);
  EXPECT_EQ(job->attempt_history(0).handle(), "4242");
  ASSERT_EQ(job->evaluations_size(), 1);
  EXPECT_DOUBLE_EQ(job->evaluations(0).accuracy(), 0.75);
  auto history = (*store)->ProgressHistory(id);
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[1].step(), 20);
  // History is not copied into the job row.
  auto plain = (*store)->LoadJob(id);
  EXPECT_EQ(plain->attempt_history_size(), 0);
}

TEST(JobStore, AtomicallyRollsBackOnError) {
  TempDir dir;
  auto store = JobStore::Open(dir.path() + "/jobs.db");
  proto::Job job = NewJob("x");
  int64_t id = *(*store)->CreateJob(&job, "");
  Status s = (*store)->Atomically([&]() -> Status {
    job.set_state(proto::RUNNING);
    RETURN_IF_ERROR((*store)->SaveJob(job));
    return Internal("launch went wrong");
  });
  EXPECT_FALSE(s.ok());
  EXPECT_EQ((*store)->LoadJob(id)->state(), proto::PENDING);
}

TEST(JobStore, RefusesAFileThatIsNotADatabase) {
  TempDir dir;
  const std::string path = dir.path() + "/jobs.db";
  std::ofstream(path) << "this is not sqlite, just text that is long enough to be read as a header........";
  auto store = JobStore::Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(path), std::string::npos) << store.status().message();
}

}  // namespace
}  // namespace chorus::coordinator
