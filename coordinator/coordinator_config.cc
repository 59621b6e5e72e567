#include "coordinator/coordinator_config.h"

#include "coordinator/names.h"

#include <algorithm>
#include <filesystem>

#include "common/config/yaml_reader.h"
#include "common/net/zmq_channel.h"
#include "coordinator/client/store_location.h"
#include "coordinator/names.h"

namespace chorus::coordinator {

namespace fs = std::filesystem;

namespace {

std::string Absolute(const std::string& path) {
  return path.empty() ? path : fs::absolute(path).lexically_normal().string();
}

// chorus-worker next to this binary (build/bin), unless configured.
std::string DefaultWorker() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "chorus-worker" : (self.parent_path() / "chorus-worker").string();
}

// The port after the last ':' of HOST:PORT (or tcp://HOST:PORT); -1 when
// there is no host, or the port is not a number in [0, 65535].
int TrailingPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return -1;
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return -1;
  const int n = std::atoi(port.c_str());
  return n < 65536 ? n : -1;
}

// tcp://HOST:PORT with a port other than 0.
bool FixedTcpEndpoint(const std::string& e) {
  return e.rfind("tcp://", 0) == 0 && e.rfind(':') > 6 && TrailingPort(e) > 0;
}

}  // namespace

bool ListensOnLoopbackOnly(const CoordinatorConfig& config) {
  return net::IsLoopbackEndpoint(config.listen) &&
         (!config.serving_enabled ||
          (net::IsLoopbackEndpoint(config.broker.client_listen) && net::IsLoopbackEndpoint(config.broker.worker_listen)));
}

bool UseCurve(const CoordinatorConfig& config) {
  return config.curve == "on" || (config.curve == "auto" && !ListensOnLoopbackOnly(config));
}

Result<CoordinatorConfig> LoadCoordinatorConfig(const std::string& path) {
  CoordinatorConfig c;
  c.scheduler.worker_binary = DefaultWorker();
  c.local.env = {{"OMPI_MCA_btl", "self,vader"}};
  if (!path.empty()) {
    ASSIGN_OR_RETURN(config::YamlReader reader, config::YamlReader::LoadFile(path));
    config::ConfigNode root = reader.Root();
    root.Get("listen", &c.listen);
    root.Check(c.listen.rfind("tcp://", 0) == 0 || c.listen.rfind("ipc://", 0) == 0, "listen",
               "must be a tcp:// or ipc:// ZeroMQ endpoint");
    root.Get("advertise", &c.advertise);
    root.Check(c.advertise.find_first_of(" \t/:[]") == std::string::npos, "advertise",
               "must be a host name or IPv4 address (no scheme, port or spaces), e.g. 198.18.0.1");
    root.Get("state_dir", &c.state_dir);
    root.Get("job_store", &c.job_store);
    root.Check(c.job_store.empty() || IsPostgresUri(c.job_store), "job_store",
               "must be empty (SQLite in state_dir) or a postgresql:// URI");
    root.Get("curve", &c.curve);
    if (c.curve == "true") c.curve = "on";
    if (c.curve == "false") c.curve = "off";
    root.Check(c.curve == "auto" || c.curve == "on" || c.curve == "off", "curve",
               "must be auto (on when a ZeroMQ socket listens beyond loopback), on or off");
    root.Get("run_as", &c.run_as);
    if (!c.run_as.empty()) {
      Result<RunAs> account = ResolveRunAs(c.run_as);
      root.Check(account.ok(), "run_as", account.ok() ? "" : account.status().message());
      if (account.ok()) c.local.run_as = c.slurm.run_as = *account;
    }
    root.Get("token", &c.token);
    root.Get("tick_ms", &c.tick_ms);
    root.Check(c.tick_ms >= 10 && c.tick_ms <= 10000, "tick_ms", "must be between 10 and 10000");
    root.Get("worker", &c.scheduler.worker_binary);
    root.Get("default_launcher", &c.scheduler.default_launcher);
    root.Get("max_restarts", &c.scheduler.default_max_restarts);
    root.Check(c.scheduler.default_max_restarts >= 0 && c.scheduler.default_max_restarts <= 100, "max_restarts",
               "must be between 0 and 100");
    root.Get("cancel_grace_s", &c.scheduler.cancel_grace_s);
    root.Check(c.scheduler.cancel_grace_s > 0, "cancel_grace_s", "must be positive");
    config::ConfigNode hb = root.Child("heartbeat");
    hb.Get("interval_ms", &c.scheduler.heartbeat_interval_ms);
    hb.Get("timeout_s", &c.scheduler.heartbeat_timeout_s);
    hb.Get("startup_timeout_s", &c.scheduler.startup_timeout_s);
    hb.Check(c.scheduler.heartbeat_interval_ms >= 10, "interval_ms", "must be at least 10");
    hb.Check(c.scheduler.heartbeat_timeout_s * 1000 > 2 * c.scheduler.heartbeat_interval_ms, "timeout_s",
             "must be more than two heartbeat intervals");
    hb.Check(c.scheduler.startup_timeout_s > 0, "startup_timeout_s", "must be positive");

    config::ConfigNode launchers = root.Child("launchers");
    config::ConfigNode local = launchers.Child("local");
    local.Get("enabled", &c.local_enabled);
    local.Get("slots", &c.local.slots);
    local.Check(c.local.slots >= 1, "slots", "must be at least 1");
    local.Get("mpirun", &c.local.mpirun);
    local.Get("mpirun_args", &c.local.mpirun_args);
    local.Get("env", &c.local.env);
    c.slurm_enabled = launchers.Has("slurm");
    config::ConfigNode slurm = launchers.Child("slurm");
    slurm.Get("enabled", &c.slurm_enabled);
    slurm.Get("slots", &c.slurm.slots);
    slurm.Check(c.slurm.slots >= 1, "slots", "must be at least 1");
    slurm.Get("partition", &c.slurm.partition);
    slurm.Get("template", &c.slurm.template_path);
    slurm.Get("pool_template", &c.slurm.pool_template_path);
    slurm.Get("time_limit", &c.slurm.time_limit);
    slurm.Get("cpus_per_task", &c.slurm.cpus_per_task);
    slurm.Check(c.slurm.cpus_per_task >= 1, "cpus_per_task", "must be at least 1");
    slurm.Get("extra_sbatch", &c.slurm.extra_sbatch);
    slurm.Get("env", &c.slurm.env);
    std::string slurm_conf;
    slurm.Get("slurm_conf", &slurm_conf);
    if (!slurm_conf.empty()) c.slurm.command_env["SLURM_CONF"] = Absolute(slurm_conf);
    for (const auto& line : c.slurm.extra_sbatch)
      slurm.Check(line.rfind("#SBATCH ", 0) == 0, "extra_sbatch", "every line must start with '#SBATCH '");
    config::ConfigNode serving = root.Child("serving");
    serving.Get("enabled", &c.serving_enabled);
    serving.Get("client_listen", &c.broker.client_listen);
    serving.Get("worker_listen", &c.broker.worker_listen);
    std::string http = c.http.host + ":" + std::to_string(c.http.port);
    serving.Get("http", &http);
    const size_t colon = http.rfind(':');
    serving.Check(colon != std::string::npos && colon > 0 && colon + 1 < http.size(), "http", "must be HOST:PORT");
    if (colon != std::string::npos && colon + 1 < http.size()) {
      c.http.host = http.substr(0, colon);
      c.http.port = std::atoi(http.c_str() + colon + 1);
      serving.Check(c.http.port >= 0 && c.http.port < 65536, "http", "port must be in [0, 65535]");
    }
    config::ConfigNode tls = serving.Child("tls");
    tls.Get("cert", &c.http.tls.cert);
    tls.Get("key", &c.http.tls.key);
    tls.Check(c.http.tls.cert.empty() == c.http.tls.key.empty(), "cert", "give both cert and key (PEM files), or neither");
    for (std::string* f : {&c.http.tls.cert, &c.http.tls.key})
      if (!f->empty()) {
        *f = Absolute(*f);
        tls.Check(std::filesystem::is_regular_file(*f), f == &c.http.tls.cert ? "cert" : "key", "no such file: " + *f);
      }
    bool allow_plain_http = false;
    serving.Get("allow_plain_http", &allow_plain_http);
    // Tokens and audio in clear text may cross the network only when asked for.
    serving.Check(!c.serving_enabled || c.http.tls.enabled() || allow_plain_http || IsLoopbackHost(c.http.host), "http",
                  c.http.host + " is not a loopback address: give serving.tls {cert, key} for HTTPS, or set "
                  "serving.allow_plain_http: true");
    serving.Get("max_queue", &c.broker.max_queue);
    serving.Check(c.broker.max_queue >= 1, "max_queue", "must be at least 1");
    int64_t timeout_ms = c.broker.default_timeout.count(), liveness_ms = c.broker.worker_liveness.count(),
            heartbeat_ms = c.broker.heartbeat_interval.count();
    serving.Get("timeout_ms", &timeout_ms);
    serving.Get("worker_liveness_ms", &liveness_ms);
    serving.Get("heartbeat_ms", &heartbeat_ms);
    serving.Check(timeout_ms >= 1, "timeout_ms", "must be positive");
    serving.Check(heartbeat_ms >= 10 && liveness_ms > 2 * heartbeat_ms, "worker_liveness_ms",
                  "must be more than two heartbeats (heartbeat_ms, at least 10)");
    c.broker.default_timeout = std::chrono::milliseconds(timeout_ms);
    c.broker.worker_liveness = std::chrono::milliseconds(liveness_ms);
    c.broker.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
    c.http.timeout = c.broker.default_timeout;
    serving.Get("max_sessions", &c.broker.max_sessions);
    serving.Check(c.broker.max_sessions >= 1, "max_sessions", "must be at least 1");
    double session_idle_s = c.broker.session_idle.count() / 1000.0;
    serving.Get("session_idle_s", &session_idle_s);
    serving.Check(session_idle_s >= 0.1 && session_idle_s <= 86400, "session_idle_s", "must be in [0.1, 86400] seconds");
    c.broker.session_idle = std::chrono::milliseconds(static_cast<int64_t>(std::clamp(session_idle_s, 0.1, 86400.0) * 1000));
    for (config::ConfigNode g : serving.ChildList("graphs")) {
      GraphSpec spec;
      g.Require("name", &spec.name);
      if (Status named = ValidateName("graph", spec.name); !named.ok()) g.Error("name", named.message());
      g.Check(g.Has("pipeline") != g.Has("ensemble"), "pipeline",
              "give a graph either pipeline: [detector, model] or ensemble: [model, model, ...]");
      spec.kind = g.Has("pipeline") ? GraphSpec::Kind::kPipeline : GraphSpec::Kind::kEnsemble;
      g.Get(g.Has("pipeline") ? "pipeline" : "ensemble", &spec.steps);
      if (Status valid = spec.Validate(); !valid.ok()) g.Error(spec.kind_name(), valid.message());
      for (const auto& other : c.broker.graphs)
        if (other.name == spec.name) g.Error("name", "graph '" + spec.name + "' is declared twice");
      c.broker.graphs.push_back(spec);
    }
    for (const auto& graph : c.broker.graphs)  // steps are served models: no graph of graphs, so no cycle
      for (const auto& step : graph.steps)
        for (const auto& other : c.broker.graphs)
          if (other.name == step)
            serving.Error("graphs", "graph '" + graph.name + "' has graph '" + step + "' as a step; a step must be a "
                                    "deployed model");
    serving.Get("max_attempts", &c.broker.max_attempts);
    serving.Check(c.broker.max_attempts >= 1, "max_attempts", "must be at least 1");
    int64_t max_body = static_cast<int64_t>(c.http.max_body_bytes);
    serving.Get("max_body_bytes", &max_body);
    serving.Check(max_body >= 1024, "max_body_bytes", "must be at least 1024");
    c.http.max_body_bytes = static_cast<size_t>(max_body);
    serving.Get("model_repository", &c.http.model_repository);
    serving.Get("model_roots", &c.model_roots);
    int64_t http_threads = static_cast<int64_t>(c.http.threads);
    serving.Get("http_threads", &http_threads);
    serving.Check(http_threads >= 2 && http_threads <= 4096, "http_threads", "must be in [2, 4096]");
    c.http.threads = static_cast<size_t>(std::clamp<int64_t>(http_threads, 2, 4096));
    config::ConfigNode dashboard = root.Child("dashboard");
    dashboard.Get("enabled", &c.dashboard.enabled);
    dashboard.Get("listen", &c.dashboard.listen);
    if (c.dashboard.listen != "gateway") {
      dashboard.Check(TrailingPort(c.dashboard.listen) >= 0, "listen",
                      "must be gateway (the serving HTTP listener) or HOST:PORT");
    }
    // Serving off and no listener named: no dashboard (main says so). Named as gateway: an error.
    dashboard.Check(c.dashboard.listen != "gateway" || c.serving_enabled || !c.dashboard.enabled ||
                        !dashboard.Has("listen"),
                    "listen", "is gateway but serving is disabled: give the dashboard a HOST:PORT of its own");
    if (c.dashboard.listen == "gateway" && !c.serving_enabled) c.dashboard.enabled = false;
    c.dashboard.tls = c.http.tls;
    if (c.dashboard.listen != "gateway" && c.dashboard.enabled) {
      const std::string host = c.dashboard.listen.substr(0, c.dashboard.listen.rfind(':'));
      dashboard.Check(c.http.tls.enabled() || allow_plain_http || IsLoopbackHost(host), "listen",
                      host + " is not a loopback address: give serving.tls {cert, key} for HTTPS, or set "
                      "serving.allow_plain_http: true");
    }
    dashboard.Get("static_dir", &c.dashboard.static_dir);
    int64_t sample_ms = c.dashboard.sample_interval.count();
    dashboard.Get("sample_ms", &sample_ms);
    dashboard.Check(sample_ms >= 100 && sample_ms <= 60000, "sample_ms", "must be in [100, 60000]");
    c.dashboard.sample_interval = std::chrono::milliseconds(std::clamp<int64_t>(sample_ms, 100, 60000));
    if (root.Has("peer")) {
      config::ConfigNode peer = root.Child("peer");
      peer.Get("listen", &c.peer.listen);
      peer.Get("client_listen", &c.peer.client_listen);
      peer.Get("worker_listen", &c.peer.worker_listen);
      peer.Get("http", &c.peer.http);
      // Clients hold both addresses for good: none may be "any free port".
      for (auto [key, value] : {std::pair<const char*, const std::string*>{"listen", &c.peer.listen},
                                {"client_listen", &c.peer.client_listen},
                                {"worker_listen", &c.peer.worker_listen}})
        peer.Check(FixedTcpEndpoint(*value) && value->find("://0.0.0.0:") == std::string::npos &&
                       value->find("://*:") == std::string::npos,
                   key,
                   "must be the peer's tcp://HOST:PORT as clients reach it (a fixed port, no wildcard)");
      peer.Check(c.peer.http.empty() || c.peer.http.rfind("http://", 0) == 0 || c.peer.http.rfind("https://", 0) == 0,
                 "http", "must be the peer's gateway URL, http(s)://HOST:PORT");
      peer.Check(IsPostgresUri(c.job_store), "listen",
                 "a peer needs a shared job store: set job_store to a postgresql:// URI");
      for (auto [key, value] : {std::pair<const char*, const std::string*>{"listen", &c.listen},
                                {"serving.client_listen", &c.broker.client_listen},
                                {"serving.worker_listen", &c.broker.worker_listen}})
        peer.Check(FixedTcpEndpoint(*value), key,
                   std::string("with a peer, this coordinator's ") + key + " needs a fixed tcp:// port too");
    }
    root.Check(c.scheduler.default_launcher == "local" || c.scheduler.default_launcher == "slurm",
               "default_launcher", "must be local or slurm");
    RETURN_IF_ERROR(reader.Finish());
  }
  if (c.slurm.template_path.empty()) c.slurm.template_path = "slurm/train.sbatch.in";
  if (c.slurm.pool_template_path.empty())
    c.slurm.pool_template_path =
        (fs::path(c.slurm.template_path).parent_path() / "serve-pool.sbatch.in").string();
  if (const char* conf = std::getenv("SLURM_CONF"); conf && !c.slurm.command_env.count("SLURM_CONF"))
    c.slurm.command_env["SLURM_CONF"] = conf;
  c.state_dir = Absolute(c.state_dir);
  if (!c.http.model_repository.empty()) c.http.model_repository = Absolute(c.http.model_repository);
  if (c.model_roots.empty() && !c.http.model_repository.empty()) c.model_roots = {c.http.model_repository};
  for (auto& root : c.model_roots) root = Absolute(root);
  if (!c.dashboard.static_dir.empty()) c.dashboard.static_dir = Absolute(c.dashboard.static_dir);
  c.slurm.template_path = Absolute(c.slurm.template_path);
  c.slurm.pool_template_path = Absolute(c.slurm.pool_template_path);
  if (c.scheduler.worker_binary.find('/') != std::string::npos)
    c.scheduler.worker_binary = Absolute(c.scheduler.worker_binary);
  if (c.slurm_enabled && !fs::exists(c.slurm.template_path))
    return InvalidArgument(path + ": launchers.slurm.template: " + c.slurm.template_path + " does not exist");
  return c;
}

}  // namespace chorus::coordinator
