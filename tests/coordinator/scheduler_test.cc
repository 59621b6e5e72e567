#include "coordinator/training/scheduler.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/audit_log.h"
#include "coordinator/client/submit_limits.h"
#include "coordinator/job_api.h"
#include "tests/coordinator/coordinator_test_util.h"

namespace chorus::coordinator {
namespace {

using testing::FakeClock;
using testing::FakeLauncher;
using testing::TempDir;
using testing::ValidJobYaml;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = JobStore::Open(dir.path() + "/jobs.db");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    options_.state_dir = dir.path();
    options_.endpoint = "tcp://127.0.0.1:1";
    options_.rank_env = [this](int64_t job, int attempt) {
      return std::map<std::string, std::string>{{"CHORUS_TOKEN", credentials_.RankToken(job, attempt)}};
    };
    options_.worker_binary = "/bin/chorus-worker";
    options_.heartbeat_timeout_s = 30;
    options_.startup_timeout_s = 100;
    options_.cancel_grace_s = 10;
    Restart();
  }
  // A new scheduler over the same store and launchers: what a restarted coordinator does.
  void Restart() {
    scheduler_ = std::make_unique<Scheduler>(options_, *store_,
                                             std::map<std::string, Launcher*>{{"local", &local_}, {"slurm", &slurm_}},
                                             clock_);
  }
  proto::SubmitRequest Request(int ranks = 1, int priority = 0, int max_restarts = 2) {
    proto::SubmitRequest r;
    r.set_spec_yaml(ValidJobYaml());
    r.set_spec_path("jobs/unit.yaml");
    r.set_workdir(dir.path());
    r.set_ranks(ranks);
    r.set_priority(priority);
    r.set_max_restarts(max_restarts);
    return r;
  }
  int64_t Submit(int ranks = 1, int priority = 0, int max_restarts = 2) {
    auto job = scheduler_->Submit(Request(ranks, priority, max_restarts));
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return job.ok() ? job->id() : -1;
  }
  proto::Job Job(int64_t id) { return *scheduler_->Get(id); }
  proto::WorkerReport Heartbeat(int64_t id, int attempt) {
    proto::WorkerReport r;
    r.set_job_id(id);
    r.set_attempt(attempt);
    r.set_heartbeat(true);
    return r;
  }

  TempDir dir;
  FakeClock clock_;
  FakeLauncher local_{"local", 2}, slurm_{"slurm", 4};
  SchedulerOptions options_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
  // "secret" is the bootstrap admin token; issued credentials go to store_.
  Credentials credentials_{{"secret", {}, [this](const proto::Credential& c) { return store_->SaveCredential(c); },
                            [this] { return clock_.Now(); }}};
};

TEST_F(SchedulerTest, InvalidJobFileIsRefusedWithFileLineAndKeyAndNothingIsQueued) {
  proto::SubmitRequest r = Request();
  r.set_spec_yaml("name: bad\nmodel: {name: tc_resnet, widht: 8}\n");
  auto job = scheduler_->Submit(r);
  ASSERT_EQ(job.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(job.status().message().find("jobs/unit.yaml:2"), std::string::npos) << job.status().message();
  EXPECT_NE(job.status().message().find("widht"), std::string::npos) << job.status().message();
  EXPECT_TRUE(store_->ListJobs(false, 0)->empty());
}

TEST_F(SchedulerTest, RefusesWhatCanNeverRun) {
  proto::SubmitRequest r = Request(3);  // local has 2 slots
  EXPECT_EQ(scheduler_->Submit(r).status().code(), StatusCode::kInvalidArgument);
  r = Request();
  r.set_launcher("kubernetes");
  auto unknown = scheduler_->Submit(r);
  EXPECT_NE(unknown.status().message().find("unknown launcher 'kubernetes'"), std::string::npos);
  r = Request();
  r.set_workdir("relative/dir");
  EXPECT_EQ(scheduler_->Submit(r).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->ListJobs(false, 0)->empty());
}

TEST_F(SchedulerTest, StartsAtOnceWhenThereIsRoomElseByPriority) {
  int64_t first = Submit(2, 0);
  EXPECT_EQ(Job(first).state(), proto::RUNNING);  // started by the submit itself
  int64_t low = Submit(2, 0);
  int64_t high = Submit(2, 10);
  EXPECT_EQ(Job(low).state(), proto::PENDING);
  local_.Exit(local_.last, 0);
  scheduler_->Tick();
  EXPECT_EQ(Job(first).state(), proto::SUCCEEDED);
  EXPECT_EQ(Job(high).state(), proto::RUNNING);
  EXPECT_EQ(Job(low).state(), proto::PENDING);  // 2 slots, both taken
  const auto& run = local_.runs[local_.last];
  EXPECT_EQ(run.spec.ranks, 2);
  EXPECT_EQ(run.spec.env.at("CHORUS_JOB_ID"), std::to_string(high));
  // The ranks' token is good for this job's attempt only.
  EXPECT_EQ(run.spec.env.at("CHORUS_TOKEN"), credentials_.RankToken(high, 1));
  EXPECT_EQ(run.spec.command[0], "/bin/chorus-worker");
  // The job file the ranks read is the submitted text.
  std::ifstream spec(Job(high).run_dir() + "/job.yaml");
  std::string text((std::istreambuf_iterator<char>(spec)), {});
  EXPECT_EQ(text, ValidJobYaml());

  local_.Exit(local_.last, 0);
  scheduler_->Tick();
  EXPECT_EQ(Job(high).state(), proto::SUCCEEDED);
  EXPECT_EQ(Job(low).state(), proto::RUNNING);
}

TEST_F(SchedulerTest, AFailedAttemptRestartsUntilMaxRestartsThenFails) {
  int64_t id = Submit(1, 0, /*max_restarts=*/1);
  scheduler_->Tick();
  local_.Exit(local_.last, 1);
  scheduler_->Tick();  // attempt 1 failed -> pending -> attempt 2 started
  proto::Job job = Job(id);
  EXPECT_EQ(job.state(), proto::RUNNING);
  EXPECT_EQ(job.attempts(), 2);
  EXPECT_EQ(job.restarts(), 1);
  EXPECT_EQ(job.attempt_history(0).state(), "FAILED");
  EXPECT_NE(job.attempt_history(0).reason().find("exit code 1"), std::string::npos);

  local_.Exit(local_.last, 1);
  scheduler_->Tick();
  job = Job(id);
  EXPECT_EQ(job.state(), proto::FAILED);
  EXPECT_NE(job.reason().find("no restarts left"), std::string::npos) << job.reason();
  EXPECT_GT(job.finished_at(), 0);
}

TEST_F(SchedulerTest, RestartedAttemptSucceeds) {
  int64_t id = Submit();
  scheduler_->Tick();
  const std::string first = local_.last;
  local_.Exit(first, 137);
  scheduler_->Tick();
  ASSERT_NE(local_.last, first);
  EXPECT_EQ(local_.runs[local_.last].spec.attempt, 2);
  // Same run directory: the trainer resumes from the checkpoints there.
  EXPECT_EQ(local_.runs[local_.last].spec.run_dir, local_.runs[first].spec.run_dir);
  local_.Exit(local_.last, 0);
  scheduler_->Tick();
  EXPECT_EQ(Job(id).state(), proto::SUCCEEDED);
}

TEST_F(SchedulerTest, AnInvalidJobIsNotRestarted) {
  int64_t id = Submit();
  scheduler_->Tick();
  local_.Exit(local_.last, 2);  // chorus-worker: invalid job file
  scheduler_->Tick();
  EXPECT_EQ(Job(id).state(), proto::FAILED);
  EXPECT_EQ(Job(id).attempts(), 1);
}

TEST_F(SchedulerTest, LaunchFailureBecomesTheReason) {
  local_.fail_next_launch = Unavailable("sbatch: error: invalid partition specified: nope");
  int64_t id = Submit(1, 0, /*max_restarts=*/0);
  proto::Job job = Job(id);
  EXPECT_EQ(job.state(), proto::FAILED);
  EXPECT_NE(job.reason().find("invalid partition specified"), std::string::npos) << job.reason();
}

TEST_F(SchedulerTest, SilentRankZeroIsStoppedThenKilledAndRestarted) {
  int64_t id = Submit();
  scheduler_->Tick();
  const std::string handle = local_.last;
  ASSERT_TRUE(scheduler_->Report(Heartbeat(id, 1)).ok());
  clock_.now += 29;
  scheduler_->Tick();
  EXPECT_EQ(local_.runs[handle].terms, 0);
  clock_.now += 2;  // 31 s of silence > 30 s
  scheduler_->Tick();
  EXPECT_EQ(local_.runs[handle].terms, 1);
  clock_.now += 11;  // past the grace period, still running
  scheduler_->Tick();
  EXPECT_EQ(local_.runs[handle].kills, 1);
  local_.Exit(handle, 137);
  scheduler_->Tick();
  proto::Job job = Job(id);
  EXPECT_EQ(job.attempts(), 2);
  EXPECT_NE(job.attempt_history(0).reason().find("no heartbeat from rank 0"), std::string::npos)
      << job.attempt_history(0).reason();
}

TEST_F(SchedulerTest, StartupTimeoutAppliesBeforeTheFirstHeartbeat) {
  Submit();
  scheduler_->Tick();
  clock_.now += 50;  // > heartbeat timeout, < startup timeout
  scheduler_->Tick();
  EXPECT_EQ(local_.runs[local_.last].terms, 0);
  clock_.now += 51;
  scheduler_->Tick();
  EXPECT_EQ(local_.runs[local_.last].terms, 1);
}

TEST_F(SchedulerTest, CancelPendingAndRunning) {
  int64_t running = Submit(2);
  int64_t pending = Submit(2);
  scheduler_->Tick();
  auto cancelled = scheduler_->Cancel(pending);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->state(), proto::CANCELLED);

  const std::string handle = local_.last;
  ASSERT_TRUE(scheduler_->Cancel(running).ok());
  EXPECT_EQ(local_.runs[handle].terms, 1);
  EXPECT_TRUE(Job(running).cancel_requested());
  local_.Exit(handle, 3);  // ranks checkpointed and exited
  scheduler_->Tick();
  EXPECT_EQ(Job(running).state(), proto::CANCELLED);
  EXPECT_EQ(Job(running).attempts(), 1);  // not restarted
  EXPECT_EQ(scheduler_->Cancel(running).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(scheduler_->Cancel(999).status().code(), StatusCode::kNotFound);
}

TEST_F(SchedulerTest, RetryQueuesAFailedJobAgainWithNewRanks) {
  int64_t id = Submit(2, 0, 0);
  scheduler_->Tick();
  EXPECT_EQ(scheduler_->Retry(id, 0).status().code(), StatusCode::kFailedPrecondition);  // running
  local_.Exit(local_.last, 1);
  scheduler_->Tick();
  ASSERT_EQ(Job(id).state(), proto::FAILED);
  EXPECT_EQ(scheduler_->Retry(id, 3).status().code(), StatusCode::kInvalidArgument);  // > slots
  auto retried = scheduler_->Retry(id, 1);
  ASSERT_TRUE(retried.ok());
  EXPECT_EQ(retried->state(), proto::PENDING);
  scheduler_->Tick();
  EXPECT_EQ(local_.runs[local_.last].spec.ranks, 1);
  EXPECT_EQ(local_.runs[local_.last].spec.attempt, 2);
}

TEST_F(SchedulerTest, ElasticJobStartsWithTheSlotsThatAreFree) {
  int64_t one = Submit(1, 10);
  proto::SubmitRequest r = Request(2);
  r.set_min_ranks(1);
  int64_t elastic = scheduler_->Submit(r)->id();
  scheduler_->Tick();
  EXPECT_EQ(Job(one).state(), proto::RUNNING);
  EXPECT_EQ(Job(elastic).state(), proto::RUNNING);
  EXPECT_EQ(local_.runs[local_.last].spec.ranks, 1);  // 1 of 2 slots was free
  EXPECT_EQ(Job(elastic).attempt_history(0).ranks(), 1);
}

TEST_F(SchedulerTest, NodesAreCheckedAtSubmitAndFollowElasticRanks) {
  proto::SubmitRequest r = Request(2);
  r.set_nodes(2);  // local runs on one host
  auto local = scheduler_->Submit(r);
  EXPECT_NE(local.status().message().find("runs on one host"), std::string::npos) << local.status().ToString();
  r.set_launcher("slurm");
  r.set_nodes(3);  // more nodes than ranks
  auto many = scheduler_->Submit(r);
  EXPECT_NE(many.status().message().find("more than --ranks 2"), std::string::npos) << many.status().ToString();
  r.set_nodes(-1);
  EXPECT_EQ(scheduler_->Submit(r).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->ListJobs(false, 0)->empty());

  r.set_nodes(2);
  int64_t spread = scheduler_->Submit(r)->id();
  EXPECT_EQ(Job(spread).nodes(), 2);
  EXPECT_EQ(slurm_.runs[slurm_.last].spec.nodes, 2);
  EXPECT_EQ(slurm_.runs[slurm_.last].spec.ranks, 2);

  // An elastic job that starts with fewer ranks than nodes asks for as many
  // nodes as it has ranks: 1 of the 4 slots is free beside the job above and
  // a 1-rank one.
  proto::SubmitRequest one = Request(1);
  one.set_launcher("slurm");
  ASSERT_TRUE(scheduler_->Submit(one).ok());
  r.set_min_ranks(1);
  int64_t elastic = scheduler_->Submit(r)->id();
  EXPECT_EQ(Job(elastic).state(), proto::RUNNING);
  EXPECT_EQ(slurm_.runs[slurm_.last].spec.job_id, elastic);
  EXPECT_EQ(slurm_.runs[slurm_.last].spec.ranks, 1);
  EXPECT_EQ(slurm_.runs[slurm_.last].spec.nodes, 1);
}

TEST_F(SchedulerTest, ReportsUpdateProgressAndStaleAttemptsAreRefused) {
  int64_t id = Submit();
  scheduler_->Tick();
  proto::WorkerReport r;
  r.set_job_id(id);
  r.set_attempt(1);
  r.mutable_step()->set_step(40);
  r.mutable_step()->set_total_steps(100);
  r.mutable_step()->set_loss(0.25);
  ASSERT_TRUE(scheduler_->Report(r).ok());
  r.clear_step();
  r.set_checkpoint("/x/ckpt-40.pt");
  ASSERT_TRUE(scheduler_->Report(r).ok());
  proto::Job job = Job(id);
  EXPECT_EQ(job.progress().step(), 40);
  EXPECT_DOUBLE_EQ(job.progress().loss(), 0.25);
  EXPECT_EQ(job.checkpoint(), "/x/ckpt-40.pt");
  EXPECT_EQ(store_->ProgressHistory(id)->size(), 1u);
  r.set_attempt(7);
  EXPECT_EQ(scheduler_->Report(r).code(), StatusCode::kFailedPrecondition);
}

TEST_F(SchedulerTest, RestartedCoordinatorReattachesToRunningAttempts) {
  int64_t id = Submit();
  scheduler_->Tick();
  const std::string handle = local_.last;
  Restart();  // the old scheduler's memory is gone; the store and the processes remain
  ASSERT_TRUE(scheduler_->Recover().ok());
  scheduler_->Tick();
  EXPECT_EQ(Job(id).state(), proto::RUNNING);
  EXPECT_EQ(Job(id).attempts(), 1);
  ASSERT_TRUE(scheduler_->Report(Heartbeat(id, 1)).ok());
  local_.Exit(handle, 0);
  scheduler_->Tick();
  EXPECT_EQ(Job(id).state(), proto::SUCCEEDED);
}

TEST_F(SchedulerTest, AttemptLostWhileTheCoordinatorWasDownIsRetriedWithoutUsingARestart) {
  int64_t id = Submit(1, 0, /*max_restarts=*/0);
  scheduler_->Tick();
  local_.runs[local_.last].status = {RunState::kLost, 0, "monitor process gone"};
  Restart();
  ASSERT_TRUE(scheduler_->Recover().ok());
  scheduler_->Tick();
  proto::Job job = Job(id);
  EXPECT_EQ(job.state(), proto::RUNNING);
  EXPECT_EQ(job.attempts(), 2);
  EXPECT_EQ(job.attempt_history(0).state(), "LOST");
  EXPECT_NE(job.attempt_history(0).reason().find("lost while the coordinator was down"), std::string::npos);
}

TEST_F(SchedulerTest, LaunchThatWasNeverRecordedIsFoundAgain) {
  int64_t id = Submit();
  scheduler_->Tick();
  // Simulate a coordinator killed between the launch and recording its handle.
  auto attempts = store_->Attempts(id);
  proto::Attempt a = attempts->back();
  a.clear_handle();
  a.set_state("LAUNCHING");
  ASSERT_TRUE(store_->SaveAttempt(id, a).ok());
  Restart();
  ASSERT_TRUE(scheduler_->Recover().ok());
  EXPECT_EQ(Job(id).attempt_history(0).handle(), local_.last);
  EXPECT_EQ(Job(id).state(), proto::RUNNING);
}

TEST_F(SchedulerTest, LogsAreReadInPiecesAndEndWithTheJob) {
  int64_t id = Submit();
  scheduler_->Tick();
  {
    std::ofstream log(Job(id).run_dir() + "/job.log", std::ios::app);
    log << "hello from rank 0\n";
  }
  auto part = scheduler_->ReadLogs(id, 0, 10);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(part->data().size(), 10u);
  EXPECT_FALSE(part->job_finished());
  local_.Exit(local_.last, 0);
  scheduler_->Tick();
  auto rest = scheduler_->ReadLogs(id, part->next_offset(), 0);
  EXPECT_NE(rest->data().find("hello from rank 0"), std::string::npos);
  EXPECT_TRUE(rest->job_finished());
}

TEST_F(SchedulerTest, JobApiRequiresTheToken) {
  JobApi api(credentials_, *scheduler_, *store_);
  proto::Request request;
  request.set_ping(true);
  EXPECT_EQ(api.Handle(request).code(), "UNAUTHENTICATED");
  request.set_token("wrong");
  EXPECT_EQ(api.Handle(request).code(), "UNAUTHENTICATED");
  request.set_token("secret");
  EXPECT_EQ(api.Handle(request).code(), "OK");
  request.mutable_status()->set_job_id(77);
  proto::Reply reply = api.Handle(request);
  EXPECT_EQ(reply.code(), "NOT_FOUND");
  EXPECT_NE(reply.error().find("77"), std::string::npos);
  // A report without the token changes nothing.
  int64_t id = Submit();
  scheduler_->Tick();
  proto::Request report;
  report.mutable_report()->set_job_id(id);
  report.mutable_report()->set_attempt(1);
  report.mutable_report()->mutable_step()->set_step(5);
  EXPECT_EQ(api.Handle(report).code(), "UNAUTHENTICATED");
  EXPECT_EQ(Job(id).progress().step(), 0);
}

TEST_F(SchedulerTest, EachRoleDoesOnlyItsOwnPartAndEveryControlActionIsAudited) {
  auto audit = AuditLog::Open(dir.path() + "/audit.log", [] { return 5.0; }).value();
  JobApi api(credentials_, *scheduler_, *store_, nullptr, {"", {}, audit.get()});
  auto call = [&](const std::string& token, proto::Request r) {
    r.set_token(token);
    return api.Handle(r);
  };
  auto issue = [&](const std::string& role) {
    proto::Request r;
    r.mutable_token_create()->set_role(role);
    proto::Reply reply = call("secret", r);
    EXPECT_EQ(reply.code(), "OK") << reply.error();
    return reply.token_created().token();
  };
  const std::string alice = issue("submit"), bob = issue("submit"), reader = issue("infer");
  proto::Request submit;
  *submit.mutable_submit() = Request();
  proto::Reply submitted = call(alice, submit);
  ASSERT_EQ(submitted.code(), "OK") << submitted.error();
  const int64_t id = submitted.job().id();
  EXPECT_EQ(submitted.job().owner(), alice.substr(7, 12));

  proto::Request status, cancel, list, deploy, create;
  status.mutable_status()->set_job_id(id);
  cancel.mutable_cancel()->set_job_id(id);
  list.mutable_list();
  deploy.mutable_deploy()->mutable_deployment()->set_name("kws");
  create.mutable_token_create()->set_role("admin");
  // Bob sees neither Alice's job nor may he touch it; an infer token may not submit.
  EXPECT_EQ(call(bob, status).code(), "PERMISSION_DENIED");
  EXPECT_EQ(call(bob, cancel).code(), "PERMISSION_DENIED");
  EXPECT_EQ(call(bob, list).list().jobs_size(), 0);
  EXPECT_EQ(call(alice, list).list().jobs_size(), 1);
  EXPECT_EQ(call(reader, submit).code(), "PERMISSION_DENIED");
  // Only admin deploys or makes credentials: a submit token cannot raise itself.
  EXPECT_EQ(call(alice, deploy).code(), "PERMISSION_DENIED");
  EXPECT_EQ(call(alice, create).code(), "PERMISSION_DENIED");

  // The rank token reports for its own job's attempt, for nothing else.
  scheduler_->Tick();
  proto::Request report;
  report.mutable_report()->set_job_id(id);
  report.mutable_report()->set_attempt(1);
  report.mutable_report()->mutable_step()->set_step(5);
  EXPECT_EQ(call(credentials_.RankToken(id, 2), report).code(), "PERMISSION_DENIED");
  EXPECT_EQ(call(credentials_.RankToken(id, 1), status).code(), "PERMISSION_DENIED");
  EXPECT_EQ(Job(id).progress().step(), 0);
  // Over CURVE the rank token counts only from its attempt's key.
  report.set_token(credentials_.RankToken(id, 1));
  const std::string own_key = credentials_.RankKeys(id, 1).public_key, other_key = credentials_.RankKeys(id, 2).public_key;
  EXPECT_EQ(api.Handle(report, other_key).code(), "UNAUTHENTICATED");
  EXPECT_EQ(api.Handle(report, credentials_.WorkerKeys().public_key).code(), "UNAUTHENTICATED");
  EXPECT_EQ(Job(id).progress().step(), 0);
  EXPECT_EQ(api.Handle(report, own_key).code(), "OK");
  EXPECT_EQ(Job(id).progress().step(), 5);
  EXPECT_EQ(call(credentials_.RankToken(id, 1), report).code(), "OK");  // without CURVE: the token alone
  status.set_token(alice);
  EXPECT_EQ(api.Handle(status, own_key).code(), "OK");  // other roles: any key
  EXPECT_EQ(call(alice, cancel).code(), "OK");

  // Credentials persist: a restarted coordinator reads them from the store.
  Credentials reopened({"secret", store_->Credentials().value(), [](const proto::Credential&) { return Status::Ok(); },
                        [] { return 0.0; }});
  EXPECT_EQ(reopened.Authenticate(alice)->role, Role::kSubmit);
  EXPECT_EQ(store_->Credentials()->front().secret_sha256().size(), 64u);
  const std::vector<proto::Credential> stored = store_->Credentials().value();
  for (const auto& c : stored) EXPECT_EQ(c.SerializeAsString().find(alice.substr(20)), std::string::npos);

  std::ifstream in(dir.path() + "/audit.log");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_THAT(text, ::testing::HasSubstr("\"who\":\"root\""));
  EXPECT_THAT(text, ::testing::HasSubstr("\"action\":\"token_create\""));
  EXPECT_THAT(text, ::testing::HasSubstr("\"action\":\"cancel\",\"error\""));  // Bob's refusal, with why
  EXPECT_THAT(text, ::testing::HasSubstr("\"result\":\"PERMISSION_DENIED\""));
  EXPECT_THAT(text, ::testing::HasSubstr("\"action\":\"submit\""));
  EXPECT_EQ(std::filesystem::status(dir.path() + "/audit.log").permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
}

TEST_F(SchedulerTest, RequestsWithoutAValidTokenCannotFloodTheAuditLogNorProbeJobs) {
  auto audit = AuditLog::Open(dir.path() + "/audit.log", [] { return 5.0; }).value();
  JobApi api(credentials_, *scheduler_, *store_, nullptr, {"", {}, audit.get()});
  proto::Request cancel;
  cancel.mutable_cancel()->set_job_id(1);
  cancel.set_token("wrong");
  for (int i = 0; i < 200; ++i) EXPECT_EQ(api.Handle(cancel).code(), "UNAUTHENTICATED");
  std::ifstream in(dir.path() + "/audit.log");
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_GE(lines, 10);
  EXPECT_LT(lines, 100) << "every unauthenticated request was written";
  // An infer token is refused a job's status whether or not the job exists.
  proto::Request create;
  create.set_token("secret");
  create.mutable_token_create()->set_role("infer");
  const std::string reader = api.Handle(create).token_created().token();
  const int64_t id = Submit();
  proto::Request status;
  status.set_token(reader);
  for (int64_t job : {id, id + 1000}) {
    status.mutable_status()->set_job_id(job);
    EXPECT_EQ(api.Handle(status).code(), "PERMISSION_DENIED") << job;
  }
}

TEST_F(SchedulerTest, OversizedOrMalformedSubmitsAreRefusedBeforeAnythingIsStored) {
  proto::SubmitRequest big = Request();
  big.set_spec_yaml(ValidJobYaml() + "# " + std::string(kMaxJobFileBytes, 'x') + "\n");
  EXPECT_THAT(scheduler_->Submit(big).status().message(), ::testing::HasSubstr("at most 1048576 bytes"));
  proto::SubmitRequest name = Request();
  name.set_name(std::string(50 << 20, 'n'));
  EXPECT_THAT(scheduler_->Submit(name).status().message(), ::testing::HasSubstr("the job name is 52428800 bytes"));
  name.set_name("bad\xff\xfe");
  EXPECT_THAT(scheduler_->Submit(name).status().message(), ::testing::HasSubstr("not UTF-8"));
  name.set_name("tab\there");
  EXPECT_THAT(scheduler_->Submit(name).status().message(), ::testing::HasSubstr("control character"));
  proto::SubmitRequest restarts = Request();
  restarts.set_max_restarts(-7);
  EXPECT_THAT(scheduler_->Submit(restarts).status().message(), ::testing::HasSubstr("max_restarts -7"));
  proto::SubmitRequest args = Request();
  for (int i = 0; i <= kMaxWorkerArgs; ++i) args.add_worker_args("--x");
  EXPECT_EQ(scheduler_->Submit(args).status().code(), StatusCode::kInvalidArgument);
  proto::SubmitRequest dup = Request();
  dup.set_spec_yaml(ValidJobYaml() + "name: again\n");
  EXPECT_THAT(scheduler_->Submit(dup).status().message(), ::testing::HasSubstr("appears twice"));
  EXPECT_TRUE(store_->ListJobs(false, 0)->empty());
}

TEST_F(SchedulerTest, AnErrorQuotingBytesThatAreNotUtf8StillMakesAValidReply) {
  JobApi api(credentials_, *scheduler_, *store_);
  proto::Request request;
  request.set_token("secret");
  *request.mutable_submit() = Request();
  request.mutable_submit()->set_launcher("k8s\xff\xfe");  // quoted back in "unknown launcher '...'"
  proto::Reply reply = api.Handle(request);
  EXPECT_EQ(reply.code(), "INVALID_ARGUMENT");
  EXPECT_THAT(reply.error(), ::testing::HasSubstr("unknown launcher 'k8s\xEF\xBF\xBD"));
  std::string wire;
  ASSERT_TRUE(reply.SerializeToString(&wire));
  proto::Reply parsed;
  EXPECT_TRUE(parsed.ParseFromString(wire)) << "a client could not parse the reply";
}

TEST_F(SchedulerTest, ASubmitRetriedWithItsRequestIdIsQueuedOnce) {
  proto::SubmitRequest r = Request();
  r.set_request_id("3f2a9c");
  auto first = scheduler_->Submit(r);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = scheduler_->Submit(r);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->id(), first->id());
  r.set_request_id("another");
  auto other = scheduler_->Submit(r);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->id(), first->id());
  r.clear_request_id();  // no id: no such guarantee
  ASSERT_TRUE(scheduler_->Submit(r).ok());
  EXPECT_EQ(store_->ListJobs(false, 0)->size(), 3u);
  // The ids survive a restart of the coordinator (they are in the job store).
  Restart();
  r.set_request_id("3f2a9c");
  EXPECT_EQ(scheduler_->Submit(r)->id(), first->id());
  r.set_request_id(std::string(65, 'x'));
  EXPECT_EQ(scheduler_->Submit(r).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chorus::coordinator
