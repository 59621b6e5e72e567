#include "coordinator/dashboard_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "coordinator/http_common.h"
#include "coordinator/serving/serving_history.h"
#include "coordinator/training/slurm_launcher.h"

namespace chorus::coordinator {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

// ---- HistogramQuantile and ServingHistory ----

std::array<int64_t, 17> Counts(std::initializer_list<std::pair<size_t, int64_t>> buckets) {
  std::array<int64_t, 17> c{};
  for (auto [i, n] : buckets) c[i] = n;
  return c;
}

TEST(HistogramQuantile, InterpolatesWithinTheBucketAndAnswersNothingForNoCounts) {
  EXPECT_FALSE(HistogramQuantile(Counts({}), 0.5).has_value());
  // 100 requests in (1 ms, 2.5 ms]: the median halfway, 1.75 ms.
  EXPECT_NEAR(*HistogramQuantile(Counts({{4, 100}}), 0.5), 0.00175, 1e-12);
  // 90 below 100 µs, 10 in (5 ms, 10 ms]: p50 in the first bucket, p99 at 9.5 ms.
  const auto c = Counts({{0, 90}, {6, 10}});
  EXPECT_NEAR(*HistogramQuantile(c, 0.5), 0.0001 * 50.0 / 90.0, 1e-12);
  EXPECT_NEAR(*HistogramQuantile(c, 0.99), 0.005 + 0.005 * 0.9, 1e-12);
  // Past the last bound: the last finite bound.
  EXPECT_DOUBLE_EQ(*HistogramQuantile(Counts({{16, 3}}), 0.5), 10.0);
}

ModelStats Stats(int64_t ok, int64_t timeouts, std::initializer_list<std::pair<size_t, int64_t>> latency, int queued,
                 int workers) {
  ModelStats s;
  s.outcomes["OK"] = ok;
  if (timeouts) s.outcomes["DEADLINE_EXCEEDED"] = timeouts;
  s.total.counts = Counts(latency);
  for (int64_t n : s.total.counts) s.total.count += n;
  s.queued = queued;
  s.ongoing = queued + 1;
  s.workers = workers;
  return s;
}

TEST(ServingHistory, TurnsCounterGrowthIntoRatesAndPercentilesPerInterval) {
  ServingHistory history(3);
  BrokerSnapshot a, b, c;
  a.models["kws"] = Stats(100, 0, {{4, 100}}, 0, 1);
  b.models["kws"] = Stats(300, 4, {{4, 100}, {7, 204}}, 5, 2);  // 204 more, in (10 ms, 25 ms]
  c.models["kws"] = Stats(300, 4, {{4, 100}, {7, 204}}, 0, 2);  // idle
  history.Add(1000.0, a);
  EXPECT_TRUE(history.Samples().empty() || history.Samples()["kws"].empty());  // one snapshot: no interval yet
  history.Add(1002.0, b);
  history.Add(1003.0, c);
  auto samples = history.Samples()["kws"];
  ASSERT_EQ(samples.size(), 2u);
  const ServingSample& busy = samples[0];
  EXPECT_DOUBLE_EQ(busy.time, 1002.0);
  EXPECT_DOUBLE_EQ(busy.requests_per_s, 204 / 2.0);
  EXPECT_DOUBLE_EQ(busy.errors_per_s, 4 / 2.0);
  EXPECT_EQ(busy.errors, (std::map<std::string, int64_t>{{"DEADLINE_EXCEEDED", 4}}));
  ASSERT_TRUE(busy.p50_ms.has_value());
  EXPECT_NEAR(*busy.p50_ms, 10.0 + 15.0 * 0.5, 1e-9);  // only this interval's requests count
  EXPECT_EQ(busy.queued, 5);
  EXPECT_EQ(busy.workers, 2);
  EXPECT_DOUBLE_EQ(samples[1].requests_per_s, 0);
  EXPECT_FALSE(samples[1].p99_ms.has_value());  // nothing answered: no latency, not zero
  // JSON since a time: only newer samples; a null latency stays null.
  json j = history.Json(1002.0);
  ASSERT_EQ(j["kws"].size(), 1u);
  EXPECT_TRUE(j["kws"][0]["p99_ms"].is_null());
  // The window keeps `capacity` samples; a model the broker forgot loses its history.
  for (int i = 0; i < 5; ++i) history.Add(1004.0 + i, c);
  EXPECT_EQ(history.Samples()["kws"].size(), 3u);
  history.Add(1010.0, BrokerSnapshot{});
  EXPECT_EQ(history.Samples().count("kws"), 0u);
}

TEST(ServingHistory, ACounterThatWentDownCountsFromZero) {
  ServingHistory history;
  BrokerSnapshot a, b;
  a.models["m"] = Stats(500, 0, {{4, 500}}, 0, 1);
  b.models["m"] = Stats(10, 0, {{4, 10}}, 0, 1);  // a new broker behind the same name
  history.Add(1.0, a);
  history.Add(2.0, b);
  EXPECT_DOUBLE_EQ(history.Samples()["m"][0].requests_per_s, 10);
}

// ---- DashboardApi over a fake coordinator ----

class DashboardApiTest : public ::testing::Test {
 protected:
  DashboardApiTest()
      : api_([this](const proto::Request& r) { return Answer(r); }, &history_, [] { return 1234.5; }) {}

  Result<proto::Reply> Answer(const proto::Request& r) {
    sent_.push_back(r);
    proto::Reply reply;
    switch (r.kind_case()) {
      case proto::Request::kList: {
        proto::Job* j = reply.mutable_list()->add_jobs();
        j->set_id(7);
        j->set_name("kws");
        j->set_state(proto::RUNNING);
        break;
      }
      case proto::Request::kStatus:
        if (r.status().job_id() != 7) return NotFound("no job " + std::to_string(r.status().job_id()));
        reply.mutable_job()->set_id(7);
        reply.mutable_job()->mutable_progress()->set_step(40);
        break;
      case proto::Request::kHistory:
        for (int step : {10, 20, 30})
          if (step > r.history().after_step()) reply.mutable_history()->add_progress()->set_step(step);
        break;
      case proto::Request::kLogs:
        reply.mutable_logs()->set_data(std::string("epoch 1\n\xff", 9));
        reply.mutable_logs()->set_next_offset(r.logs().offset() + 9);
        break;
      case proto::Request::kCluster: {
        auto* l = reply.mutable_cluster()->add_launchers();
        l->set_name("local");
        l->set_slots(2);
        l->set_used(1);
        break;
      }
      case proto::Request::kServing:
        reply.mutable_serving()->add_models()->set_workers(3);
        break;
      default:
        return InvalidArgument("unexpected request");
    }
    return reply;
  }

  json Get(const std::string& path, const DashboardApi::Query& query = {}) {
    Result<std::string> body = api_.Get(path, query);
    EXPECT_TRUE(body.ok()) << path << ": " << body.status().ToString();
    return body.ok() ? json::parse(*body) : json();
  }

  ServingHistory history_;
  std::vector<proto::Request> sent_;
  DashboardApi api_;
};

TEST_F(DashboardApiTest, JobsAndOneJobInProtobufsJsonWithProtoFieldNames) {
  json jobs = Get("/api/v1/jobs", {{"active", "1"}, {"limit", "5"}});
  ASSERT_EQ(jobs["jobs"].size(), 1u);
  EXPECT_EQ(jobs["jobs"][0]["id"], "7");  // int64 as a string, as protobuf maps it
  EXPECT_EQ(jobs["jobs"][0]["state"], "RUNNING");
  EXPECT_TRUE(jobs["jobs"][0].contains("max_restarts"));  // defaults printed
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_TRUE(sent_[0].list().active_only());
  EXPECT_EQ(sent_[0].list().limit(), 5);
  EXPECT_EQ(Get("/api/v1/jobs/7")["progress"]["step"], "40");
}

TEST_F(DashboardApiTest, HistoryAfterAStepAndTheLogAsText) {
  EXPECT_EQ(Get("/api/v1/jobs/7/history")["progress"].size(), 3u);  // after_step -1: all
  EXPECT_EQ(sent_.back().history().after_step(), -1);
  EXPECT_EQ(Get("/api/v1/jobs/7/history", {{"after_step", "10"}})["progress"].size(), 2u);
  json log = Get("/api/v1/jobs/7/log", {{"tail", "4096"}});
  EXPECT_EQ(sent_.back().logs().tail(), 4096);
  EXPECT_EQ(log["data"], "epoch 1\n\xEF\xBF\xBD");  // text; a byte that is not UTF-8 becomes U+FFFD
  EXPECT_EQ(log["next_offset"], 9);
  Get("/api/v1/jobs/7/log", {{"offset", "100"}});
  EXPECT_EQ(sent_.back().logs().offset(), 100);
  EXPECT_EQ(sent_.back().logs().tail(), 0);
}

TEST_F(DashboardApiTest, ServingClusterAndTheServingSamples) {
  EXPECT_EQ(Get("/api/v1/serving")["models"][0]["workers"], 3);
  json cluster = Get("/api/v1/cluster");
  EXPECT_EQ(cluster["launchers"][0], (json{{"name", "local"}, {"slots", 2}, {"used", 1}}));
  BrokerSnapshot s;
  s.models["kws"] = Stats(1, 0, {{3, 1}}, 0, 1);
  history_.Add(1.0, s);
  s.models["kws"] = Stats(3, 0, {{3, 3}}, 0, 1);
  history_.Add(2.0, s);
  json samples = Get("/api/v1/serving/history", {{"since", "0"}});
  EXPECT_EQ(samples["now"], 1234.5);
  ASSERT_EQ(samples["models"]["kws"].size(), 1u);
  EXPECT_EQ(samples["models"]["kws"][0]["requests_per_s"], 2.0);
  EXPECT_TRUE(Get("/api/v1/serving/history", {{"since", "2"}})["models"]["kws"].empty());
}

TEST_F(DashboardApiTest, BadQueriesAndUnknownPathsNameWhatWasWrong) {
  struct Case {
    std::string path;
    DashboardApi::Query query;
    int http;
    std::string says;
  };
  for (const Case& c : std::vector<Case>{
           {"/api/v1/jobs", {{"limit", "0"}}, 400, "'limit' must be an integer in [1, 1000]"},
           {"/api/v1/jobs", {{"limit", "12abc"}}, 400, "got '12abc'"},
           {"/api/v1/jobs", {{"active", "yes"}}, 400, "'active'"},
           {"/api/v1/jobs/7/history", {{"after_step", "-5"}}, 400, "'after_step'"},
           {"/api/v1/jobs/7/log", {{"offset", "1"}, {"tail", "1"}}, 400, "not both"},
           {"/api/v1/jobs/7/log", {{"tail", "99999999"}}, 400, "'tail'"},
           {"/api/v1/serving/history", {{"since", "nan"}}, 400, "'since' must be a number"},
           {"/api/v1/jobs/8", {}, 404, "no job 8"},
           {"/api/v1/jobs/99999999999999999999", {}, 404, "no dashboard API"},
           {"/api/v1/jobs/x", {}, 404, "no dashboard API at /api/v1/jobs/x"},
           {"/api/v2/anything", {}, 404, "no dashboard API"},
       }) {
    Result<std::string> r = api_.Get(c.path, c.query);
    ASSERT_FALSE(r.ok()) << c.path;
    EXPECT_EQ(HttpStatusOf(r.status()), c.http) << c.path << ": " << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr(c.says)) << c.path;
  }
}

TEST(HttpCommon, BearerChecksSayWhatIsMissingWrongOrForbidden) {
  Credentials credentials({"s3cret", {}, [](const proto::Credential&) { return Status::Ok(); }, [] { return 0.0; }});
  EXPECT_EQ(BearerPrincipal(credentials, "Bearer s3cret")->id, "root");
  EXPECT_THAT(BearerPrincipal(credentials, "").status().message(), HasSubstr("missing"));
  EXPECT_EQ(BearerPrincipal(credentials, "Bearer s3cre").status().code(), StatusCode::kUnauthenticated);
  EXPECT_THAT(BearerPrincipal(credentials, "s3cret").status().message(), HasSubstr("not 'Bearer TOKEN'"));
  EXPECT_EQ(HttpStatusOf(BearerPermit(credentials, "Bearer s3cre", Action::kDashboard)), 401);
  EXPECT_EQ(HttpStatusOf(BearerPermit(credentials, "Bearer " + credentials.WorkerToken(), Action::kDashboard)), 403);
  EXPECT_TRUE(BearerPermit(credentials, "Bearer s3cret", Action::kDashboard).ok());
  EXPECT_EQ(HttpStatusOf(std::string("FAILED_PRECONDITION")), 409);
  EXPECT_EQ(HttpStatusOf(std::string("PERMISSION_DENIED")), 403);
  EXPECT_EQ(HttpStatusOf(std::string("OK")), 200);
}

// ---- sinfo ----

TEST(SinfoNodes, ParsesNodesPartitionsAndAllocatedCpus) {
  auto nodes = SlurmLauncher::ParseSinfoNodes("n1|debug*|mixed|8|3/5/0/8|gpu:h200:1\nn2|batch|idle|4|0/4/0/4|(null)\n\n");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].partition(), "debug");  // the default partition's '*' dropped
  EXPECT_EQ((*nodes)[0].cpus(), 8);
  EXPECT_EQ((*nodes)[0].cpus_allocated(), 3);
  EXPECT_EQ((*nodes)[0].gres(), "gpu:h200:1");
  EXPECT_EQ((*nodes)[1].gres(), "");
  auto bad = SlurmLauncher::ParseSinfoNodes("n1|debug|idle\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("sinfo line 1 has 3 fields"));
}

}  // namespace
}  // namespace chorus::coordinator
