#include "coordinator/serving/autoscaler.h"

#include "coordinator/names.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/config/job_spec.h"
#include "common/util/fs.h"

namespace chorus::coordinator {

namespace fs = std::filesystem;

double StartBackoffSeconds(int failures) {
  if (failures <= 0) return 0;
  return std::min(60.0, 0.5 * std::pow(2.0, std::min(failures - 1, 16)));
}

int DesiredWorkers(const proto::ScalePolicy& p, int current, double ongoing, double now, ScaleTimers* t) {
  int wanted = static_cast<int>(std::ceil(ongoing / p.target_ongoing()));
  if (ongoing > 0) wanted = std::max(wanted, 1);
  wanted = std::clamp(wanted, p.min_workers(), p.max_workers());
  if (current < p.min_workers()) {  // below the floor (start, a worker died): no delay
    *t = {};
    return std::max(wanted, p.min_workers());
  }
  if (wanted > current) {
    t->below_since = -1;
    if (current == 0) return wanted;  // cold start: nothing serves, do not wait
    if (t->above_since < 0) t->above_since = now;
    if (now - t->above_since >= p.scale_up_delay_s()) {
      t->above_since = -1;
      return wanted;
    }
    return current;
  }
  if (wanted < current) {
    t->above_since = -1;
    if (t->below_since < 0) t->below_since = now;
    if (now - t->below_since >= p.scale_down_delay_s()) {
      t->below_since = now;  // the next one waits a full delay again
      return current - 1;
    }
    return current;
  }
  *t = {};
  return current;
}

Autoscaler::Autoscaler(AutoscalerOptions options, Broker& broker, std::map<std::string, Launcher*> launchers,
                       JobStore& store, Clock& clock)
    : options_(std::move(options)), broker_(broker), launchers_(std::move(launchers)), store_(store), clock_(clock) {}

Status Autoscaler::Recover() {
  ASSIGN_OR_RETURN(std::vector<proto::Deployment> deployments, store_.Deployments());
  for (auto& d : deployments) {
    broker_.Expect(d.name(), true);
    Pool& pool = pools_[d.name()];
    pool.deployment = std::move(d);
    Adopt(pool);
  }
  if (!deployments.empty()) spdlog::info("autoscaler: {} deployment(s) restored", deployments.size());
  return Status::Ok();
}

Result<proto::Deployment> Autoscaler::Deploy(proto::Deployment d) {
  RETURN_IF_ERROR(ValidateName("deployment", d.name()));
  if (d.launcher().empty()) d.set_launcher("local");
  if (!launchers_.count(d.launcher())) return InvalidArgument("unknown launcher '" + d.launcher() + "'");
  RETURN_IF_ERROR(ValidateScalePolicy(d.policy()));
  if (!fs::path(d.model_dir()).is_absolute()) return InvalidArgument("model_dir must be an absolute path");
  if (!fs::exists(d.model_dir() + "/model.json"))
    return InvalidArgument(d.model_dir() + " is not a model version folder (no model.json)");
  if (d.max_batch() <= 0) d.set_max_batch(8);
  if (d.max_delay_us() < 0) return InvalidArgument("max delay must not be negative");
  if (d.threads() <= 0) d.set_threads(1);
  if (d.device().empty()) d.set_device("cpu");
  if (!config::IsDeviceName(d.device()))
    return InvalidArgument("device must be cpu, cuda or cuda:N; got '" + d.device() + "'");
  auto existing = pools_.find(d.name());
  if (existing != pools_.end() && !existing->second.removed && existing->second.deployment.model_dir() != d.model_dir())
    spdlog::info("autoscaler: rolling update of {}: {} -> {}", d.name(), existing->second.deployment.model_dir(),
                 d.model_dir());
  // Only the folder changed: the running workers can load it in place.
  bool in_place = false;
  if (existing != pools_.end() && !existing->second.removed) {
    const proto::Deployment& old = existing->second.deployment;
    in_place = old.launcher() == d.launcher() && old.device() == d.device() && old.threads() == d.threads() &&
               old.max_batch() == d.max_batch() && old.max_delay_us() == d.max_delay_us();
  }
  d.set_created_at(clock_.Now());
  RETURN_IF_ERROR(store_.SaveDeployment(d));  // before acting
  Pool& pool = pools_[d.name()];
  pool.deployment = d;
  pool.in_place = in_place;
  pool.removed = false;
  pool.start_failures = 0;
  pool.hold_until = 0;
  broker_.Expect(d.name(), true);
  spdlog::info("autoscaler: deployed {} from {} ({}..{} workers, target {} ongoing per worker)", d.name(),
               d.model_dir(), d.policy().min_workers(), d.policy().max_workers(), d.policy().target_ongoing());
  return d;
}

Result<proto::Deployment> Autoscaler::Scale(const std::string& name, int min_workers, int max_workers) {
  auto it = pools_.find(name);
  if (it == pools_.end() || it->second.removed) return NotFound("no deployment named '" + name + "'");
  proto::Deployment d = it->second.deployment;
  d.mutable_policy()->set_min_workers(min_workers);
  d.mutable_policy()->set_max_workers(max_workers);
  RETURN_IF_ERROR(ValidateScalePolicy(d.policy()));
  RETURN_IF_ERROR(store_.SaveDeployment(d));
  it->second.deployment = d;
  it->second.timers = {};
  return d;
}

Status Autoscaler::Undeploy(const std::string& name) {
  auto it = pools_.find(name);
  const bool deployed = it != pools_.end() && !it->second.removed;
  // Workers not started for this deployment (by hand, or serving other
  // models too) unload it in place and go on serving the rest.
  std::set<std::string> own;
  if (it != pools_.end())
    for (const Worker& w : it->second.workers) own.insert(w.id);
  int in_place = 0;
  for (const WorkerStatus& w : broker_.Snapshot().workers) {
    if (own.count(w.id) || std::find(w.models.begin(), w.models.end(), name) == w.models.end()) continue;
    broker_.UnloadModel(w.id, name);
    ++in_place;
  }
  if (!deployed && in_place == 0) return NotFound("no deployment named '" + name + "', and no worker serves it");
  if (in_place > 0) spdlog::info("autoscaler: {} worker(s) not deployed for {} unload it in place", in_place, name);
  if (!deployed) return Status::Ok();
  RETURN_IF_ERROR(store_.DeleteDeployment(name));
  it->second.removed = true;
  broker_.Expect(name, false);
  return Status::Ok();
}

std::string Autoscaler::RunDir(const proto::Deployment& d) const {
  return options_.state_dir + "/deployments/" + d.name();
}

std::string Autoscaler::RecordPath(const proto::Deployment& d, const std::string& id) const {
  return RunDir(d) + "/" + id + ".worker";
}

void Autoscaler::Drain(Worker& w, double now) {
  w.state = "DRAINING";
  w.draining_since = now;
  broker_.Drain(w.id);
}

void Autoscaler::Kill(Worker& w) {
  (void)launchers_.at(w.launcher)->Terminate(w.handle, true);
  w.state = "LOST";
}

void Autoscaler::FailedStart(Pool& pool, double now) {
  pool.hold_until = now + StartBackoffSeconds(++pool.start_failures);
  spdlog::warn("autoscaler: {} worker(s) of {} in a row ended before they were ready; next start in {:.1f} s",
               pool.start_failures, pool.deployment.name(), pool.hold_until - now);
}

void Autoscaler::Adopt(Pool& pool) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(RunDir(pool.deployment), ec)) {
    if (entry.path().extension() != ".worker") continue;
    const std::string path = entry.path().string();
    auto text = ReadFile(path);
    nlohmann::json j = text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    Worker w;
    if (j.is_object()) {
      w.id = j.value("id", "");
      w.handle = j.value("handle", "");
      w.launcher = j.value("launcher", "");
      w.exit_file = j.value("exit_file", "");
      w.model_dir = j.value("model_dir", "");
      w.number = j.value("number", int64_t{0});
    }
    if (w.id.empty() || w.handle.empty() || !launchers_.count(w.launcher)) {
      spdlog::warn("autoscaler: ignoring unreadable worker record {}", path);
      fs::remove(path, ec);
      continue;
    }
    const RunState st = launchers_.at(w.launcher)->Poll(w.handle, w.exit_file).state;
    if (st != RunState::kRunning && st != RunState::kQueued) {
      fs::remove(path, ec);
      continue;
    }
    if (j.value("broker", "") != broker_.worker_endpoint()) {
      // It talks to an address this coordinator no longer listens on.
      spdlog::info("autoscaler: stopping worker {} of {}: it was started for broker {}, this one is {}", w.id,
                   pool.deployment.name(), j.value("broker", ""), broker_.worker_endpoint());
      (void)launchers_.at(w.launcher)->Terminate(w.handle, true);
      fs::remove(path, ec);
      continue;
    }
    w.adopted = true;
    w.state = "STARTING";  // READY again once it says hello to this broker
    w.started_at = clock_.Now();
    next_worker_ = std::max(next_worker_, w.number + 1);
    spdlog::info("autoscaler: adopted worker {} of {} (handle {}) from before the restart", w.id,
                 pool.deployment.name(), w.handle);
    pool.workers.push_back(std::move(w));
  }
}

void Autoscaler::WriteRecord(const Pool& pool, const Worker& w) {
  const nlohmann::json record = {{"id", w.id},         {"handle", w.handle},       {"launcher", w.launcher},
                                 {"exit_file", w.exit_file}, {"model_dir", w.model_dir}, {"number", w.number},
                                 {"broker", broker_.worker_endpoint()}};
  if (Status s = AtomicWriteFile(RecordPath(pool.deployment, w.id), record.dump()); !s.ok())
    spdlog::warn("autoscaler: {} (a restarted coordinator will not adopt this worker)", s.ToString());
}

void Autoscaler::LoadInPlace(Pool& pool, double now) {
  const std::string& dir = pool.deployment.model_dir();
  if (!pool.in_place || pool.removed) return;
  for (auto& w : pool.workers) {
    if (w.state != "READY" || w.model_dir == dir || w.loading_dir == dir || w.in_place_failed) continue;
    broker_.LoadModel(w.id, pool.deployment.name() + "=" + dir);
    w.loading_dir = dir;
    w.load_sent_at = now;
    spdlog::info("autoscaler: worker {} of {} loads {} in place", w.id, pool.deployment.name(), dir);
  }
}

void Autoscaler::StartWorker(Pool& pool) {
  const proto::Deployment& d = pool.deployment;
  Launcher* launcher = launchers_.at(d.launcher());
  // Numbers stay unique across restarts: they name pid files and Slurm jobs.
  const int64_t n = std::max<int64_t>(next_worker_, static_cast<int64_t>(clock_.Now() * 1000) % 1000000000);
  next_worker_ = n + 1;
  Worker w;
  w.id = "deploy-" + d.name() + "-" + std::to_string(n);
  LaunchSpec spec;
  spec.attempt = static_cast<int>(n);
  spec.ranks = 1;
  spec.mpi = false;
  spec.name = "serve-" + d.name();
  spec.workdir = options_.state_dir;
  spec.run_dir = RunDir(d);
  spec.command = {options_.worker_binary, "serve", "--broker", broker_.worker_endpoint(), "--model", d.name() + "=" + d.model_dir(),
                  "--id", w.id, "--max-batch", std::to_string(d.max_batch()), "--max-delay-us",
                  std::to_string(d.max_delay_us()), "--threads", std::to_string(d.threads()),
                  "--device", d.device().empty() ? "cpu" : d.device(),
                  // Orphaned by a stopped or killed coordinator, a worker leaves by itself.
                  "--give-up-after", std::to_string(static_cast<int>(options_.orphan_timeout_s))};
  spec.env = options_.env;
  spec.gpus_per_task = !d.device().empty() && d.device() != "cpu" ? 1 : 0;
  spec.log_path = spec.run_dir + "/workers.log";
  spec.exit_file = spec.run_dir + "/" + w.id + ".exit";
  if (Status s = MakeDirs(spec.run_dir); !s.ok()) {
    spdlog::error("autoscaler: {}", s.ToString());
    return;
  }
  auto handle = launcher->Launch(spec);
  if (!handle.ok()) {
    spdlog::error("autoscaler: cannot start a worker for {}: {}", d.name(), handle.status().message());
    return;
  }
  w.handle = *handle;
  w.launcher = d.launcher();
  w.state = "STARTING";
  w.started_at = clock_.Now();
  w.exit_file = spec.exit_file;
  w.model_dir = d.model_dir();
  w.number = n;
  WriteRecord(pool, w);
  spdlog::info("autoscaler: starting worker {} for {} on {} (handle {})", w.id, d.name(), d.launcher(), w.handle);
  pool.workers.push_back(w);
}

void Autoscaler::Follow(Pool& pool, const BrokerSnapshot& snapshot) {
  std::map<std::string, const WorkerStatus*> registered;
  for (const auto& ws : snapshot.workers) registered[ws.id] = &ws;
  const double now = clock_.Now();
  for (auto it = pool.workers.begin(); it != pool.workers.end();) {
    Worker& w = *it;
    RunStatus st = launchers_.at(w.launcher)->Poll(w.handle, w.exit_file);
    if (st.state == RunState::kExited || st.state == RunState::kLost) {
      if (w.state != "DRAINING")
        spdlog::warn("autoscaler: worker {} of {} ended ({}{})", w.id, pool.deployment.name(),
                     st.state == RunState::kExited ? "exit " + std::to_string(st.exit_code) : "lost",
                     st.detail.empty() ? "" : ": " + st.detail);
      // Its requests (a stream's chunk among them) go to another worker now,
      // not once the broker finds it silent.
      broker_.Forget(w.id, st.state == RunState::kExited ? "exited" : "was lost");
      if (w.state == "STARTING") FailedStart(pool, now);  // a bad model, flags or host: do not spin
      std::error_code ec;
      fs::remove(RecordPath(pool.deployment, w.id), ec);
      it = pool.workers.erase(it);
      continue;
    }
    if (w.state == "STARTING" && registered.count(w.id)) {
      w.state = "READY";
      pool.start_failures = 0;
      spdlog::info("autoscaler: worker {} ready after {:.2f} s", w.id, now - w.started_at);
    } else if (w.state == "STARTING" &&
               now - w.started_at > (w.adopted ? options_.adopt_timeout_s : options_.start_timeout_s)) {
      spdlog::warn("autoscaler: worker {} of {} not ready after {:.0f} s; killing it", w.id, pool.deployment.name(),
                   now - w.started_at);
      Kill(w);
      if (!w.adopted) FailedStart(pool, now);
    }
    if (w.state == "READY") {
      // Dropped by the broker (stopped, hung, cut off): it serves no one but
      // still counts; past a grace it is killed and the pool refills.
      if (registered.count(w.id)) {
        w.unregistered_since = -1;
      } else if (w.unregistered_since < 0) {
        w.unregistered_since = now;
      } else if (now - w.unregistered_since > options_.lost_after_s) {
        spdlog::warn("autoscaler: worker {} of {} no longer answers the broker; killing it and starting another",
                     w.id, pool.deployment.name());
        Kill(w);
      }
    }
    if (w.state == "READY" && !w.loading_dir.empty()) {
      auto r = registered.find(w.id);
      const std::string* serving = nullptr;
      if (r != registered.end())
        if (auto src = r->second->sources.find(pool.deployment.name()); src != r->second->sources.end())
          serving = &src->second;
      if (serving && *serving == w.loading_dir) {
        spdlog::info("autoscaler: worker {} of {} serves {} (loaded in place in {:.2f} s)", w.id,
                     pool.deployment.name(), w.loading_dir, now - w.load_sent_at);
        w.model_dir = w.loading_dir;
        w.loading_dir.clear();
        WriteRecord(pool, w);
      } else if (now - w.load_sent_at > options_.load_timeout_s) {
        spdlog::warn("autoscaler: worker {} of {} did not load {} within {:.0f} s; replacing it instead", w.id,
                     pool.deployment.name(), w.loading_dir, options_.load_timeout_s);
        w.loading_dir.clear();
        w.in_place_failed = true;
      }
    }
    if (w.state == "DRAINING" && now - w.draining_since > options_.drain_timeout_s) {
      (void)launchers_.at(w.launcher)->Terminate(w.handle, true);
      w.draining_since = now;
    }
    ++it;
  }
}

// Mean ongoing requests since the pool's last tick, from the broker's
// integral; the instant reading when there is no earlier one to difference.
double Autoscaler::MeanOngoing(Pool& pool, const ModelStats& stats, double now) {
  const double since = now - pool.measured_at;
  double mean = stats.ongoing;
  if (pool.ongoing_seconds >= 0 && since > 0 && stats.ongoing_seconds >= pool.ongoing_seconds)
    mean = (stats.ongoing_seconds - pool.ongoing_seconds) / since;
  pool.ongoing_seconds = stats.ongoing_seconds;
  pool.measured_at = now;
  return mean;
}

void Autoscaler::Tick() {
  BrokerSnapshot snapshot = broker_.Snapshot();
  const double now = clock_.Now();
  for (auto it = pools_.begin(); it != pools_.end();) {
    Pool& pool = it->second;
    Follow(pool, snapshot);
    LoadInPlace(pool, now);
    // Workers of the deployed version count (and those loading it in place);
    // those of an earlier one serve until enough new ones are ready (a
    // rolling update).
    const std::string& dir = pool.deployment.model_dir();
    int current = 0, ready = 0, old = 0;
    for (const auto& w : pool.workers) {
      if (!Serving(w)) continue;
      if (w.model_dir != dir && w.loading_dir != dir) ++old;
      else ++current, ready += w.state == "READY" && w.model_dir == dir;
    }
    int desired = 0;
    if (!pool.removed) {
      auto m = snapshot.models.find(pool.deployment.name());
      const double ongoing = m == snapshot.models.end() ? 0 : MeanOngoing(pool, m->second, now);
      desired = DesiredWorkers(pool.deployment.policy(), current, ongoing, now, &pool.timers);
    }
    pool.desired = desired;
    if (now >= pool.hold_until)
      for (int i = current; i < desired; ++i) StartWorker(pool);
    if (old > 0 && (ready >= std::max(desired, 1) || pool.removed || desired == 0)) {
      for (auto& w : pool.workers) {
        if (!Serving(w) || w.model_dir == dir) continue;
        Drain(w, now);
        spdlog::info("autoscaler: draining worker {} of {} (replaced by {} ready worker(s) of {})", w.id,
                     pool.deployment.name(), ready, dir);
      }
    }
    for (int i = desired; i < current; ++i) {
      // Drain the least busy ready worker (a starting one if none is ready).
      Worker* victim = nullptr;
      int victim_load = 1 << 30;
      for (auto& w : pool.workers) {
        if (!Serving(w) || w.model_dir != dir) continue;
        auto r = std::find_if(snapshot.workers.begin(), snapshot.workers.end(),
                              [&](const WorkerStatus& s) { return s.id == w.id; });
        int load = r == snapshot.workers.end() ? -1 : r->ongoing;
        if (!victim || load < victim_load) {
          victim = &w;
          victim_load = load;
        }
      }
      if (!victim) break;
      Drain(*victim, now);
      spdlog::info("autoscaler: draining worker {} of {} ({} -> {} workers)", victim->id, pool.deployment.name(),
                   current, desired);
    }
    if (pool.removed && pool.workers.empty()) {
      it = pools_.erase(it);
    } else {
      ++it;
    }
  }
}

proto::ServingStatus Autoscaler::ServingStatus() const {
  proto::ServingStatus out;
  BrokerSnapshot snapshot = broker_.Snapshot();
  std::map<std::string, const Worker*> started;  // worker id -> what the autoscaler knows of it
  for (const auto& [name, pool] : pools_) {
    if (pool.removed) continue;
    proto::ServingModel* m = out.add_models();
    *m->mutable_deployment() = pool.deployment;
    m->set_desired(pool.desired);
    for (const auto& w : pool.workers) {
      started[w.id] = &w;
      if (!snapshot.workers.empty() &&
          std::none_of(snapshot.workers.begin(), snapshot.workers.end(),
                       [&](const WorkerStatus& s) { return s.id == w.id; })) {
        proto::ServingWorker* sw = out.add_workers();  // started, not registered yet
        sw->set_id(w.id);
        sw->set_model(name);
        sw->set_state(w.state);
        sw->set_handle(w.handle);
        sw->set_launcher(w.launcher);
        sw->set_started_at(w.started_at);
      }
    }
  }
  for (const auto& [model, stats] : snapshot.models) {
    proto::ServingModel* m = nullptr;
    for (auto& existing : *out.mutable_models())
      if (existing.deployment().name() == model) m = &existing;
    if (!m) {
      if (model == "_unknown_") continue;
      m = out.add_models();
      m->mutable_deployment()->set_name(model);
    }
    m->set_workers(stats.workers);
    m->set_queued(stats.queued);
    m->set_ongoing(stats.ongoing);
    m->set_sessions(stats.sessions);
    if (auto info = snapshot.model_info.find(model); info != snapshot.model_info.end()) {
      m->set_sample_rate(info->second.sample_rate());
      m->set_streams(info->second.streams());
    }
    for (const auto& [code, n] : stats.outcomes) {
      if (code == "OK") m->set_answered_ok(m->answered_ok() + n);
      else m->set_answered_error(m->answered_error() + n);
    }
  }
  for (const auto& ws : snapshot.workers) {
    proto::ServingWorker* w = out.add_workers();
    w->set_id(ws.id);
    w->set_model(ws.models.empty() ? "" : ws.models.front());
    auto s = started.find(ws.id);
    w->set_state(ws.draining ? "DRAINING" : s != started.end() ? s->second->state : "MANUAL");
    if (s != started.end()) {  // where it runs: a process group, a Slurm job
      w->set_handle(s->second->handle);
      w->set_launcher(s->second->launcher);
      w->set_started_at(s->second->started_at);
    }
    w->set_ongoing(ws.ongoing);
    w->set_capacity(ws.capacity);
    w->set_pid(ws.pid);
  }
  out.set_client_endpoint(broker_.client_endpoint());
  out.set_curve_server_key(broker_.curve_server_key());
  return out;
}

}  // namespace chorus::coordinator
