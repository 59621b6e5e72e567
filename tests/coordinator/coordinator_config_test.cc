#include "coordinator/coordinator_config.h"

#include "common/net/zmq_channel.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace chorus::coordinator {
namespace {

using ::testing::HasSubstr;

Result<CoordinatorConfig> Load(const std::string& yaml) {
  const auto path = std::filesystem::temp_directory_path() / ("chorus_config_test_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << yaml;
  auto config = LoadCoordinatorConfig(path.string());
  std::filesystem::remove(path);
  return config;
}

TEST(CoordinatorConfigDashboard, OnTheGatewayByDefaultAndOffWithServingUnlessGivenAListener) {
  auto defaults = Load("listen: tcp://127.0.0.1:0\n");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_TRUE(defaults->dashboard.enabled);
  EXPECT_EQ(defaults->dashboard.listen, "gateway");
  auto no_serving = Load("serving: {enabled: false}\n");
  ASSERT_TRUE(no_serving.ok()) << no_serving.status().ToString();
  EXPECT_FALSE(no_serving->dashboard.enabled);
  auto own = Load("serving: {enabled: false}\ndashboard: {listen: \"127.0.0.1:0\", sample_ms: 250, static_dir: web}\n");
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_TRUE(own->dashboard.enabled);
  EXPECT_EQ(own->dashboard.sample_interval.count(), 250);
  EXPECT_TRUE(std::filesystem::path(own->dashboard.static_dir).is_absolute());
}

TEST(CoordinatorConfigDashboard, BadSettingsAreRefusedByName) {
  for (const auto& [yaml, says] : std::vector<std::pair<std::string, std::string>>{
           {"serving: {enabled: false}\ndashboard: {listen: gateway}\n", "serving is disabled"},
           {"dashboard: {listen: \"localhost\"}\n", "dashboard.listen"},
           {"dashboard: {listen: \"127.0.0.1:99999\"}\n", "HOST:PORT"},
           {"dashboard: {listen: \":80\"}\n", "HOST:PORT"},
           {"dashboard: {sample_ms: 5}\n", "sample_ms"},
           {"dashboard: {colour: blue}\n", "colour"},
       }) {
    auto config = Load(yaml);
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(says)) << yaml;
  }
}

TEST(CoordinatorConfigServing, StreamingBoundsAndGraphsAreReadAndBadOnesRefusedByName) {
  auto config = Load(
      "serving:\n  max_sessions: 8\n  session_idle_s: 1.5\n  graphs:\n"
      "    - {name: speech, pipeline: [vad, kws]}\n    - {name: pair, ensemble: [a, b, c]}\n");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->broker.max_sessions, 8);
  EXPECT_EQ(config->broker.session_idle.count(), 1500);
  ASSERT_EQ(config->broker.graphs.size(), 2u);
  EXPECT_EQ(config->broker.graphs[0].kind, GraphSpec::Kind::kPipeline);
  EXPECT_EQ(config->broker.graphs[1].steps, (std::vector<std::string>{"a", "b", "c"}));
  for (const auto& [yaml, says] : std::vector<std::pair<std::string, std::string>>{
           {"serving: {max_sessions: 0}\n", "max_sessions"},
           {"serving: {session_idle_s: 0}\n", "session_idle_s"},
           {"serving: {graphs: [{name: g, pipeline: [a, b, c]}]}\n", "two models"},
           {"serving: {graphs: [{name: g, ensemble: [a]}]}\n", "at least two"},
           {"serving: {graphs: [{name: g, pipeline: [a, b], ensemble: [a, b]}]}\n", "either pipeline"},
           {"serving: {graphs: [{name: \"..\", pipeline: [a, b]}]}\n", "graph"},
           {"serving: {graphs: [{name: g, pipeline: [a, b]}, {name: g, ensemble: [a, b]}]}\n", "declared twice"},
           {"serving: {graphs: [{name: g, pipeline: [a, h]}, {name: h, ensemble: [g, b]}]}\n", "a step must be a deployed model"},
       }) {
    auto bad = Load(yaml);
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_THAT(bad.status().message(), HasSubstr(says)) << yaml;
  }
}

TEST(CoordinatorConfigNetwork, AdvertiseIsAHostAndBindsOnAWildcardAreAdvertisedByIt) {
  auto good = Load("listen: tcp://0.0.0.0:0\nadvertise: 198.18.0.1\n");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->advertise, "198.18.0.1");
  for (const std::string bad : {"tcp://198.18.0.1", "198.18.0.1:7450", "a b"}) {
    auto refused = Load("advertise: \"" + bad + "\"\n");
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_THAT(refused.status().message(), HasSubstr("advertise")) << refused.status().ToString();
  }
  EXPECT_EQ(net::AdvertisedHost("0.0.0.0", "198.18.0.1"), "198.18.0.1");
  EXPECT_EQ(net::AdvertisedHost("0.0.0.0", ""), "127.0.0.1");
  EXPECT_EQ(net::AdvertisedHost("10.1.2.3", "198.18.0.1"), "10.1.2.3");  // a named address stays
  std::string endpoint;
  auto socket = net::BindRouter("tcp://0.0.0.0:0", &endpoint, {0, "127.0.0.2"});
  ASSERT_TRUE(socket.ok()) << socket.status().ToString();
  EXPECT_THAT(endpoint, ::testing::StartsWith("tcp://127.0.0.2:"));
  auto named = net::BindRouter("tcp://lo:0", &endpoint);  // an interface's name
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_THAT(endpoint, ::testing::StartsWith("tcp://127.0.0.1:"));
}

TEST(CoordinatorConfigTls, PlainHttpLeavesLoopbackOnlyWhenAskedAndTlsFilesMustExist) {
  auto refused = Load("serving: {http: \"0.0.0.0:8000\"}\n");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("0.0.0.0 is not a loopback address: give serving.tls"));
  EXPECT_TRUE(Load("serving: {http: \"0.0.0.0:8000\", allow_plain_http: true}\n").ok());
  EXPECT_TRUE(Load("serving: {http: \"127.0.0.1:0\"}\n").ok());
  auto own_dashboard = Load("serving: {enabled: false}\ndashboard: {listen: \"0.0.0.0:0\"}\n");
  ASSERT_FALSE(own_dashboard.ok());
  EXPECT_THAT(own_dashboard.status().message(), HasSubstr("dashboard.listen"));
  auto missing = Load("serving: {http: \"0.0.0.0:8000\", tls: {cert: /nonexistent/c.pem, key: /nonexistent/k.pem}}\n");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no such file: /nonexistent/c.pem"));
  auto half = Load("serving: {tls: {cert: /etc/hostname}}\n");
  ASSERT_FALSE(half.ok());
  EXPECT_THAT(half.status().message(), HasSubstr("give both cert and key"));
  auto both = Load("serving: {http: \"0.0.0.0:8000\", tls: {cert: /etc/hostname, key: /etc/hostname}}\n");
  ASSERT_TRUE(both.ok()) << both.status().ToString();
  EXPECT_TRUE(both->http.tls.enabled());
  EXPECT_EQ(both->dashboard.tls.cert, "/etc/hostname");
}

TEST(CoordinatorConfigCurve, AutoTurnsCurveOnBeyondLoopbackOnlyAndBadValuesAreRefused) {
  EXPECT_TRUE(net::IsLoopbackEndpoint("tcp://127.0.0.1:7450"));
  EXPECT_TRUE(net::IsLoopbackEndpoint("tcp://lo:0"));
  EXPECT_TRUE(net::IsLoopbackEndpoint("tcp://[::1]:9"));
  EXPECT_TRUE(net::IsLoopbackEndpoint("ipc:///tmp/x"));
  EXPECT_FALSE(net::IsLoopbackEndpoint("tcp://0.0.0.0:0"));
  EXPECT_FALSE(net::IsLoopbackEndpoint("tcp://chorus-br:0"));
  EXPECT_FALSE(net::IsLoopbackEndpoint("tcp://198.18.0.1:7450"));
  auto loopback = Load("listen: tcp://127.0.0.1:0\n");
  ASSERT_TRUE(loopback.ok());
  EXPECT_EQ(loopback->curve, "auto");
  EXPECT_FALSE(UseCurve(*loopback));
  auto wide = Load("listen: tcp://0.0.0.0:0\n");
  ASSERT_TRUE(wide.ok());
  EXPECT_TRUE(UseCurve(*wide));
  auto workers_wide = Load("serving: {worker_listen: \"tcp://eth0:0\"}\n");
  ASSERT_TRUE(workers_wide.ok());
  EXPECT_TRUE(UseCurve(*workers_wide));
  auto forced = Load("curve: on\n");
  ASSERT_TRUE(forced.ok());
  EXPECT_TRUE(UseCurve(*forced));
  auto off = Load("listen: tcp://0.0.0.0:0\ncurve: off\n");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(UseCurve(*off));
  auto bad = Load("curve: maybe\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("curve: must be auto"));
}

TEST(CoordinatorConfigRunAs, TheAccountGoesToBothLaunchersAndRootOrStrangersAreRefused) {
  auto plain = Load("listen: tcp://127.0.0.1:0\n");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(plain->local.run_as.enabled());
  auto nobody = Load("run_as: nobody\n");
  ASSERT_TRUE(nobody.ok()) << nobody.status().ToString();
  EXPECT_EQ(nobody->local.run_as.user, "nobody");
  EXPECT_EQ(nobody->slurm.run_as.uid, nobody->local.run_as.uid);
  EXPECT_NE(nobody->local.run_as.uid, 0u);
  auto root = Load("run_as: root\n");
  ASSERT_FALSE(root.ok());
  EXPECT_THAT(root.status().message(), HasSubstr("run_as"));
  EXPECT_THAT(root.status().message(), HasSubstr("uid 0"));
  auto stranger = Load("run_as: no-such-chorus-user\n");
  ASSERT_FALSE(stranger.ok());
  EXPECT_THAT(stranger.status().message(), HasSubstr("no user named 'no-such-chorus-user'"));
}

constexpr const char* kPair =
    "listen: tcp://127.0.0.1:7450\n"
    "job_store: \"postgresql:///chorus?host=/tmp/pg\"\n"
    "serving: {client_listen: \"tcp://127.0.0.1:7451\", worker_listen: \"tcp://127.0.0.1:7452\"}\n";

TEST(CoordinatorConfigStandby, APairSharesAPostgresStoreAndNamesThePeer) {
  auto pair = Load(std::string(kPair) +
                   "peer: {listen: \"tcp://127.0.0.1:7460\", client_listen: \"tcp://127.0.0.1:7461\", "
                   "worker_listen: \"tcp://127.0.0.1:7462\", http: \"http://127.0.0.1:8010\"}\n");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  EXPECT_TRUE(pair->peer.enabled());
  EXPECT_EQ(pair->job_store, "postgresql:///chorus?host=/tmp/pg");
  EXPECT_EQ(pair->peer.worker_listen, "tcp://127.0.0.1:7462");
  auto alone = Load("listen: tcp://127.0.0.1:0\n");
  ASSERT_TRUE(alone.ok());
  EXPECT_FALSE(alone->peer.enabled());
  EXPECT_TRUE(alone->job_store.empty());  // SQLite in the state directory
}

TEST(CoordinatorConfigStandby, BadPairsAreRefusedByName) {
  const std::string peer =
      "peer: {listen: \"tcp://127.0.0.1:7460\", client_listen: \"tcp://127.0.0.1:7461\", "
      "worker_listen: \"tcp://127.0.0.1:7462\"}\n";
  for (const auto& [yaml, says] : std::vector<std::pair<std::string, std::string>>{
           {"job_store: /var/lib/jobs.db\n", "postgresql:// URI"},
           {"listen: tcp://127.0.0.1:7450\n" + peer, "shared job store"},  // SQLite cannot be shared
           {std::string(kPair) + "peer: {listen: \"tcp://127.0.0.1:0\"}\n", "fixed port"},
           {std::string(kPair) + "peer: {listen: \"tcp://0.0.0.0:7460\", client_listen: \"tcp://127.0.0.1:7461\", "
                                 "worker_listen: \"tcp://127.0.0.1:7462\"}\n", "peer.listen"},
           {std::string(kPair) + peer.substr(0, peer.size() - 2) + ", http: \"127.0.0.1:8010\"}\n", "gateway URL"},
           {"job_store: \"postgresql:///c\"\nlisten: tcp://127.0.0.1:0\n" + peer, "fixed tcp:// port"},
       }) {
    auto config = Load(yaml);
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(says)) << yaml;
  }
}

}  // namespace
}  // namespace chorus::coordinator
