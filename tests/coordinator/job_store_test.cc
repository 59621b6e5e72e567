#include "coordinator/training/job_store.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "coordinator/training/leader_lease.h"
#include "coordinator/training/postgres_job_store.h"
#include "tests/coordinator/coordinator_test_util.h"

namespace chorus::coordinator {
namespace {

using testing::TempDir;

// The test PostgreSQL server (tests/integration/postgres_fixture.sh, started
// by ctest as a fixture; $CHORUS_TEST_POSTGRES names another); "" when it is
// not running (the binary run by hand).
std::string TestServer() {
  const char* env = std::getenv("CHORUS_TEST_POSTGRES");
  const std::string uri = env ? env : CHORUS_TEST_POSTGRES_URI;
  try {
    pqxx::connection probe(uri);
    return uri;
  } catch (const std::exception&) {
    return "";
  }
}

// A database of its own on the test server, so tests do not see each other's rows.
std::string FreshDatabase() {
  static std::atomic<int> counter{0};
  const std::string name = "t" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  pqxx::connection admin(TestServer());
  pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + name);
  pqxx::nontransaction(admin).exec("CREATE DATABASE " + name);
  std::string uri = TestServer();
  const size_t db = uri.find("/chorus");
  return uri.replace(db, 7, "/" + name);
}

// Each store test runs on both backends: a SQLite file, and a PostgreSQL database.
class JobStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres" && TestServer().empty()) GTEST_SKIP() << "no test PostgreSQL server (ctest starts one)";
    location_ = GetParam() == "postgres" ? FreshDatabase() : dir_.path() + "/jobs.db";
  }
  const std::string& location() const { return location_; }

 private:
  TempDir dir_;
  std::string location_;
};

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

TEST_P(JobStoreTest, CreatesLoadsAndListsJobs) {
  auto store = JobStore::Open(location());
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

TEST_P(JobStoreTest, UnknownIdIsNotFound) {
  auto store = JobStore::Open(location());
  auto job = (*store)->LoadJob(42);
  EXPECT_EQ(job.status().code(), StatusCode::kNotFound);
  EXPECT_NE(job.status().message().find("42"), std::string::npos);
  proto::Job ghost = NewJob("ghost");
  ghost.set_id(42);
  EXPECT_EQ((*store)->SaveJob(ghost).code(), StatusCode::kNotFound);
}

TEST_P(JobStoreTest, EverythingSurvivesReopening) {
  const std::string path = location();
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

TEST_P(JobStoreTest, AtomicallyRollsBackOnError) {
  auto store = JobStore::Open(location());
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

TEST_P(JobStoreTest, DeploymentsCredentialsAndSubmitIdsAreKept) {
  auto store = JobStore::Open(location());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  proto::Deployment d;
  d.set_name("kws");
  d.set_model_dir("/models/kws/1");
  ASSERT_TRUE((*store)->SaveDeployment(d).ok());
  d.set_model_dir("/models/kws/2");  // replaced, by name
  ASSERT_TRUE((*store)->SaveDeployment(d).ok());
  auto deployments = (*store)->Deployments();
  ASSERT_TRUE(deployments.ok());
  ASSERT_EQ(deployments->size(), 1u);
  EXPECT_EQ((*deployments)[0].model_dir(), "/models/kws/2");
  ASSERT_TRUE((*store)->DeleteDeployment("kws").ok());
  EXPECT_TRUE((*store)->Deployments()->empty());

  proto::Credential c;
  c.set_id("c1");
  c.set_role("infer");
  ASSERT_TRUE((*store)->SaveCredential(c).ok());
  c.set_revoked(true);
  ASSERT_TRUE((*store)->SaveCredential(c).ok());
  auto credentials = (*store)->Credentials();
  ASSERT_EQ(credentials->size(), 1u);
  EXPECT_TRUE((*credentials)[0].revoked());

  proto::Job job = NewJob("once");
  auto id = (*store)->CreateJob(&job, "spec", "request-1");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*(*store)->JobForRequest("request-1"), *id);
  EXPECT_EQ(*(*store)->JobForRequest("request-2"), 0);
  proto::Job again = NewJob("twice");
  EXPECT_FALSE((*store)->CreateJob(&again, "spec", "request-1").ok());  // the id is taken
  EXPECT_EQ((*store)->ListJobs(false, 0)->size(), 1u);                  // and nothing half-made stays
}

INSTANTIATE_TEST_SUITE_P(Backends, JobStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// An active/standby pair: two coordinators' stores on one server see one truth.
TEST(PostgresJobStore, TwoStoresOnOneDatabaseShareEverything) {
  if (TestServer().empty()) GTEST_SKIP() << "no test PostgreSQL server (ctest starts one)";
  const std::string uri = FreshDatabase();
  auto active = JobStore::Open(uri);
  auto standby = JobStore::Open(uri);
  ASSERT_TRUE(active.ok() && standby.ok());
  proto::Job job = NewJob("shared");
  const int64_t id = *(*active)->CreateJob(&job, "spec");
  job.set_state(proto::RUNNING);
  ASSERT_TRUE((*active)->SaveJob(job).ok());
  auto seen = (*standby)->LoadJob(id);
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->state(), proto::RUNNING);
}

TEST(PostgresJobStore, AnUnreachableServerIsAClearErrorWithoutThePassword) {
  auto store = JobStore::Open("postgresql://chorus:s3cret@127.0.0.1:1/chorus?connect_timeout=2");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().message().find("s3cret"), std::string::npos) << store.status().message();
  EXPECT_NE(store.status().message().find("cannot connect to the job store"), std::string::npos)
      << store.status().message();
}

TEST(PostgresJobStore, RedactsPasswords) {
  EXPECT_EQ(RedactedUri("postgresql://u:pw@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(RedactedUri("postgresql:///db?host=/tmp&password=pw&user=u"), "postgresql:///db?host=/tmp&password=***&user=u");
  EXPECT_EQ(RedactedUri("postgresql://u@h/db"), "postgresql://u@h/db");
}

// The server frees a lease when its session ends; how soon it notices varies a little.
bool AcquiresWithinASecond(LeaderLease& lease) {
  for (int i = 0; i < 50; ++i) {
    auto held = lease.TryAcquire();
    if (held.ok() && *held) return true;
    usleep(20000);
  }
  return false;
}

TEST(LeaderLease, OneHolderAtATimeAndTheNextTakesOverWhenItGoes) {
  if (TestServer().empty()) GTEST_SKIP() << "no test PostgreSQL server (ctest starts one)";
  const std::string uri = FreshDatabase();
  auto first = LeaderLease::Connect(uri);
  auto second = LeaderLease::Connect(uri);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE((*second)->Check().ok());  // not held yet
  EXPECT_TRUE(*(*first)->TryAcquire());
  EXPECT_FALSE(*(*second)->TryAcquire());
  EXPECT_TRUE((*first)->Check().ok());
  first->reset();  // the active's connection ends (as when its process dies)
  EXPECT_TRUE(AcquiresWithinASecond(**second));
  EXPECT_TRUE((*second)->Check().ok());
}

TEST(LeaderLease, AHolderCutOffFromTheServerKnowsItLostTheLease) {
  if (TestServer().empty()) GTEST_SKIP() << "no test PostgreSQL server (ctest starts one)";
  const std::string uri = FreshDatabase();
  auto lease = LeaderLease::Connect(uri);
  ASSERT_TRUE(lease.ok());
  ASSERT_TRUE(*(*lease)->TryAcquire());
  pqxx::connection admin(uri);  // the server ends the holder's session, as when its network goes
  pqxx::nontransaction(admin).exec(
      "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype='advisory' AND pid <> pg_backend_pid()");
  Status s = (*lease)->Check();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
  auto other = LeaderLease::Connect(uri);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(AcquiresWithinASecond(**other));
}

}  // namespace
}  // namespace chorus::coordinator
