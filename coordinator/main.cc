// chorus-coordinator: queues, launches, watches and restarts training jobs,
// and answers the `chorus` CLI. See configs/coordinator.yaml.
// Stopping it (SIGINT/SIGTERM, or kill -9) leaves running jobs running; the
// next coordinator started on the same state directory re-attaches to them.
// With a PostgreSQL job store two coordinators can share it as an
// active/standby pair: each first waits for the lease (leader_lease.h), and
// only the holder binds its sockets and acts; the other takes over when it
// ends, re-attaching its jobs and adopting its serving workers.
// Exit codes: 0 stopped by a signal, 1 could not start, 2 bad usage or config,
// 3 lost the lease (another coordinator may be active now).
#include <sys/file.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <csignal>
#include <cstring>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/net/curve.h"
#include "common/net/endpoints.h"
#include "common/net/zmq_channel.h"
#include "common/util/fs.h"
#include "common/util/logging.h"
#include "coordinator/audit_log.h"
#include "coordinator/control_client.h"
#include "coordinator/client/store_location.h"
#include "coordinator/coordinator_config.h"
#include "coordinator/credentials.h"
#include "coordinator/dashboard.h"
#include "coordinator/job_api.h"
#include "coordinator/run_as.h"
#include "coordinator/server.h"
#include "coordinator/serving/autoscaler.h"
#include "coordinator/serving/broker.h"
#include "coordinator/serving/gateway.h"
#include "coordinator/serving/speaker_registry.h"
#include "coordinator/token.h"
#include "coordinator/training/job_store.h"
#include "coordinator/training/leader_lease.h"
#include "coordinator/training/local_launcher.h"
#include "coordinator/training/scheduler.h"
#include "coordinator/training/slurm_launcher.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

using namespace chorus;
using namespace chorus::coordinator;

// Jobs and workers as the run_as account: only a root coordinator can switch
// users, and the account must reach its own directories under the state
// directory (enter, not list: 0711) while everything else there stays 0600.
Status PrepareRunAs(const CoordinatorConfig& config) {
  const RunAs& account = config.local.run_as;
  if (!account.enabled()) {
    if (::geteuid() == 0)
      spdlog::warn("jobs and serving workers run as root: set run_as to an unprivileged user in the config");
    return Status::Ok();
  }
  if (::geteuid() != 0 && ::geteuid() != account.uid)
    return PermissionDenied("run_as: " + account.user + ": only a coordinator running as root can start processes as "
                            "another user");
  for (const std::string& dir : {config.state_dir, config.state_dir + "/jobs", config.state_dir + "/deployments"}) {
    RETURN_IF_ERROR(MakeDirs(dir));
    RETURN_IF_ERROR(OpenForTraversal(dir));
  }
  spdlog::info("jobs and serving workers run as {} (uid {})", account.user, account.uid);
  return Status::Ok();
}

// CURVE on: the coordinator's keys (written to STATE_DIR/curve.pub for the
// CLI), and a ZAP handler that lets only the worker key onto the workers'
// socket. Off: no keys, and no stale curve.pub.
Result<net::CurveKeys> StartCurve(const CoordinatorConfig& config, const Credentials& credentials,
                                  std::unique_ptr<net::ZapHandler>* zap) {
  const std::string pub = config.state_dir + "/curve.pub";
  if (!UseCurve(config)) {
    if (config.curve == "off" && !ListensOnLoopbackOnly(config))
      spdlog::warn("curve: off while listening beyond loopback: tokens and audio cross the network in clear");
    std::error_code ignored;
    std::filesystem::remove(pub, ignored);
    return net::CurveKeys{};
  }
  const net::CurveKeys& keys = credentials.ServerKeys();
  if (keys.empty()) return Unavailable("curve: this libzmq was built without CURVE");
  const std::string worker_key = credentials.WorkerKeys().public_key;
  ASSIGN_OR_RETURN(*zap, net::ZapHandler::Start([worker_key](const std::string& domain, const std::string& key) {
                     return AllowCurvePeer(domain, key, worker_key);
                   }));
  RETURN_IF_ERROR(AtomicWriteFile(pub, keys.public_key + "\n"));
  spdlog::info("CURVE: ZeroMQ traffic is encrypted; the coordinator's public key is {} (in {})", keys.public_key, pub);
  return keys;
}

// What a process the coordinator starts needs to reach it over CURVE.
void AddCurveEnvironment(const std::string& server_key, const net::CurveKeys& own,
                         std::map<std::string, std::string>* env) {
  (*env)["CHORUS_CURVE_SERVER_KEY"] = server_key;
  (*env)["CHORUS_CURVE_PUBLIC_KEY"] = own.public_key;
  (*env)["CHORUS_CURVE_SECRET_KEY"] = own.secret_key;
}

// The state directory's lock: one coordinator per directory. A standby that
// just won the lease waits a moment for the old active's process to end.
Result<int> LockStateDir(const std::string& state_dir, bool wait) {
  const std::string lock_path = state_dir + "/coordinator.lock";
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return IoError(lock_path + ": " + std::strerror(errno));
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(wait ? 10 : 0);
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (std::chrono::steady_clock::now() >= give_up) {
      close(fd);
      return Unavailable("another coordinator already uses " + state_dir + " (lock " + lock_path + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return fd;
}

int Serve(CoordinatorConfig config) {
  // The job store, job files, logs and checkpoints are the users' business:
  // everything the coordinator and the processes it starts write is theirs
  // alone (files 0600, directories 0700), the state directory included.
  ::umask(077);
  if (Status s = MakeDirs(config.state_dir); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  if (::chmod(config.state_dir.c_str(), 0700) != 0)
    spdlog::warn("cannot make {} private (mode 0700): {}", config.state_dir, std::strerror(errno));
  if (Status s = PrepareRunAs(config); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }
  const bool shared_store = IsPostgresUri(config.job_store);
  std::unique_ptr<LeaderLease> lease;
  if (shared_store) {
    lease = LeaderLease::WaitUntilHeld(config.job_store, g_stop);
    if (!lease) return 0;  // stopped while standing by
  }
  auto lock_fd = LockStateDir(config.state_dir, shared_store);
  if (!lock_fd.ok()) {
    spdlog::error("{}", lock_fd.status().ToString());
    return 1;
  }
  auto token = LoadOrCreateToken(config.token, config.state_dir);
  auto store = JobStore::Open(shared_store ? config.job_store : config.state_dir + "/jobs.db");
  // Enrolled speakers stay in SQLite beside the state: with SQLite jobs, the
  // same file (its own connection).
  auto speakers = SpeakerRegistry::Open(config.state_dir + (shared_store ? "/speakers.db" : "/jobs.db"));
  for (const Status& s : {token.status(), store.status(), speakers.status()}) {
    if (!s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
  }
  auto stored_credentials = (*store)->Credentials();
  if (!stored_credentials.ok()) {
    spdlog::error("{}", stored_credentials.status().ToString());
    return 1;
  }
  JobStore* job_store = store->get();
  const auto UnixNow = [] { return SystemClock().Now(); };
  Credentials credentials({*token, std::move(*stored_credentials),
                           [job_store](const proto::Credential& c) { return job_store->SaveCredential(c); }, UnixNow});
  auto audit = AuditLog::Open(config.state_dir + "/audit.log", UnixNow);
  if (!audit.ok()) {
    spdlog::error("{}", audit.status().ToString());
    return 1;
  }
  std::unique_ptr<net::ZapHandler> zap;
  auto started_curve = StartCurve(config, credentials, &zap);
  if (!started_curve.ok()) {
    spdlog::error("{}", started_curve.status().ToString());
    return 1;
  }
  const net::CurveKeys curve = *started_curve;  // empty: no CURVE
  auto server = CoordinatorServer::Bind(config.listen, config.advertise, curve);
  if (!server.ok()) {
    spdlog::error("{}", server.status().ToString());
    return 1;
  }
  // Clients, ranks and workers get both coordinators of a pair (endpoints.h).
  const std::string endpoint = net::JoinEndpoints((*server)->endpoint(), config.peer.listen);
  if (Status s = AtomicWriteFile(config.state_dir + "/endpoint", endpoint + "\n"); !s.ok()) {
    spdlog::error("{}", s.ToString());
    return 1;
  }

  std::map<std::string, Launcher*> launchers;
  LocalLauncher local(config.local);
  SlurmLauncher slurm(config.slurm);
  if (config.local_enabled) launchers["local"] = &local;
  if (config.slurm_enabled) launchers["slurm"] = &slurm;
  config.scheduler.state_dir = config.state_dir;
  config.scheduler.endpoint = endpoint;
  config.scheduler.rank_env = [&credentials, curve](int64_t job, int attempt) {
    std::map<std::string, std::string> env = {{"CHORUS_TOKEN", credentials.RankToken(job, attempt)}};
    if (!curve.empty()) AddCurveEnvironment(curve.public_key, credentials.RankKeys(job, attempt), &env);
    return env;
  };
  SystemClock clock;
  Scheduler scheduler(config.scheduler, **store, launchers, clock);
  if (Status s = scheduler.Recover(); !s.ok()) {
    spdlog::error("recovering jobs: {}", s.ToString());
    return 1;
  }

  // Serving: the broker runs on a thread of its own, the gateway on its HTTP server's.
  std::unique_ptr<Broker> broker;
  std::unique_ptr<Dashboard> dashboard;  // before the gateway, which may serve its routes
  std::unique_ptr<Gateway> gateway;
  std::thread broker_thread;
  std::unique_ptr<Autoscaler> autoscaler;
  std::string http_url;
  std::string dashboard_url;
  if (config.serving_enabled) {
    config.broker.credentials = &credentials;
    config.broker.advertise = config.advertise;
    config.broker.curve = curve;
    config.broker.peer_client_endpoint = config.peer.client_listen;
    config.broker.peer_worker_endpoint = config.peer.worker_listen;
    auto bound = Broker::Bind(config.broker);
    if (!bound.ok()) {
      spdlog::error("{}", bound.status().ToString());
      return 1;
    }
    broker = std::move(*bound);
    config.http.token = *token;
    config.http.credentials = &credentials;
    config.http.control_curve = {curve.public_key, {}};  // the gateway submits to the broker in process
    config.http.speakers = speakers->get();
    config.http.control_endpoint = endpoint;
    if (config.dashboard.enabled) {
      dashboard = std::make_unique<Dashboard>(config.dashboard, credentials, ControlClient(endpoint, *token, {curve.public_key, {}}), broker.get());
      if (!dashboard->own_listener()) config.http.mount = [&](net::HttpServer& s) { dashboard->Mount(s); };
    }
    auto started = Gateway::Start(config.http, *broker);
    if (!started.ok()) {
      spdlog::error("{}", started.status().ToString());
      return 1;
    }
    gateway = std::move(*started);
    const std::string http =
        (config.http.tls.enabled() ? "https://" : "http://") + net::AdvertisedHost(config.http.host, config.advertise) + ":" + std::to_string(gateway->port());
    nlohmann::json serving = {{"client", broker->client_endpoint()}, {"worker", broker->worker_endpoint()},
                              {"http", http}, {"curve_server_key", curve.public_key}};
    if (!config.peer.http.empty()) serving["http_peer"] = config.peer.http;
    if (dashboard && !dashboard->own_listener()) dashboard_url = http + "/dashboard/";
    if (Status s = AtomicWriteFile(config.state_dir + "/serving.json", serving.dump(2) + "\n"); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return 1;
    }
    http_url = http;
    AutoscalerOptions ao;
    ao.state_dir = config.state_dir;
    ao.worker_binary = config.scheduler.worker_binary;
    ao.env = {{"CHORUS_TOKEN", credentials.WorkerToken()}};
    if (!curve.empty()) AddCurveEnvironment(curve.public_key, credentials.WorkerKeys(), &ao.env);
    autoscaler = std::make_unique<Autoscaler>(ao, *broker, launchers, **store, clock);
    if (Status s = autoscaler->Recover(); !s.ok()) {
      spdlog::error("restoring deployments: {}", s.ToString());
      return 1;
    }
    // Only now: a request that arrives (a standby taking over under load)
    // finds its deployed model expected and waits for a worker, instead of
    // being told the model is unknown.
    broker_thread = std::thread([&] { broker->Run(g_stop); });
    spdlog::info("serving: clients {}, workers {}, HTTP {}", broker->client_endpoint(), broker->worker_endpoint(),
                 http);
  }

  if (!config.dashboard.enabled && !config.serving_enabled)
    spdlog::info("no dashboard: serving is off, and dashboard.listen names no HOST:PORT of its own");
  if (config.dashboard.enabled && !dashboard)  // serving is off: the dashboard on its own listener
    dashboard = std::make_unique<Dashboard>(config.dashboard, credentials, ControlClient(endpoint, *token, {curve.public_key, {}}), nullptr);
  if (dashboard && dashboard->own_listener()) {
    Result<int> port = dashboard->Start();
    if (!port.ok()) {
      spdlog::error("{}", port.status().ToString());
      g_stop = true;
      if (broker_thread.joinable()) broker_thread.join();
      return 1;
    }
    dashboard_url = (config.dashboard.tls.enabled() ? "https://" : "http://") +
                    net::AdvertisedHost(config.dashboard.listen.substr(0, config.dashboard.listen.rfind(':')),
                                        config.advertise) +
                    ":" +
                    std::to_string(*port) + "/dashboard/";
  }
  if (!dashboard_url.empty()) {
    if (Status s = AtomicWriteFile(config.state_dir + "/dashboard", dashboard_url + "\n"); !s.ok())
      spdlog::warn("{}", s.ToString());
    spdlog::info("dashboard: {} (sign in with the token in {}/token or $CHORUS_TOKEN)", dashboard_url,
                 config.state_dir);
  }

  JobApi api(credentials, scheduler, **store, autoscaler.get(), {http_url, config.model_roots, audit->get()});

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGPIPE, SIG_IGN);
  std::string names;
  for (const auto& [name, l] : launchers) names += " " + name + "(" + std::to_string(l->slots()) + " slots)";
  spdlog::info("coordinator listening on {}; state in {}; launchers:{}", endpoint, config.state_dir, names);
  bool lost_lease = false;
  (*server)->Run([&](const proto::Request& r, const std::string& peer_key) { return api.Handle(r, peer_key); }, [&] {
                   if (lease) {  // fencing: without the lease, act no more
                     if (Status s = lease->Check(); !s.ok()) {
                       spdlog::error("{}; stopping at once (the standby may be active now)", s.ToString());
                       lost_lease = true;
                       g_stop = true;
                       return;
                     }
                   }
                   scheduler.Tick();
                   if (autoscaler) autoscaler->Tick();
                 },
                 std::chrono::milliseconds(static_cast<int64_t>(config.tick_ms)), g_stop);
  if (broker_thread.joinable()) broker_thread.join();
  gateway.reset();
  dashboard.reset();
  spdlog::info("coordinator stopping; running jobs keep running and are re-attached at the next start");
  return lost_lease ? 3 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "chorus-coordinator: queues, launches (mpirun or Slurm), watches and restarts Chorus training jobs, and "
      "answers the chorus CLI."};
  std::string config_path, listen, state_dir, log_level = "info";
  app.add_option("--config", config_path, "coordinator YAML (see configs/coordinator.yaml)")
      ->check(CLI::ExistingFile);
  app.add_option("--listen", listen, "ZeroMQ endpoint to bind, e.g. tcp://127.0.0.1:7450 (port 0: any free port)");
  app.add_option("--state-dir", state_dir, "where the job database, token and job directories live");
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  chorus::InitLogging(log_level);
  auto config = LoadCoordinatorConfig(config_path);
  if (!config.ok()) {
    std::cerr << "invalid coordinator configuration:\n" << config.status().message() << std::endl;
    return 2;
  }
  if (!listen.empty()) config->listen = listen;
  if (!state_dir.empty()) config->state_dir = std::filesystem::absolute(state_dir).lexically_normal().string();
  if (config->dashboard.static_dir.empty()) {  // BUILD/dashboard, beside BUILD/bin
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) config->dashboard.static_dir = (exe.parent_path().parent_path() / "dashboard").string();
  }
  return Serve(*config);
}
