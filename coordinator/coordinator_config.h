// CoordinatorConfig: configs/coordinator.yaml as a validated struct. Relative
// paths are resolved against the directory the coordinator starts in; every
// problem is reported as file:line:col: key like job files.
#pragma once

#include <string>
#include <vector>

#include "common/util/status.h"
#include "coordinator/dashboard.h"
#include "coordinator/serving/broker.h"
#include "coordinator/serving/gateway.h"
#include "coordinator/training/local_launcher.h"
#include "coordinator/training/scheduler.h"
#include "coordinator/training/slurm_launcher.h"

namespace chorus::coordinator {

struct CoordinatorConfig {
  std::string listen = "tcp://127.0.0.1:7450";  // port 0: any free port (written to STATE_DIR/endpoint)
  // Where other hosts reach this one when a listen address is a wildcard
  // (0.0.0.0): the host written into STATE_DIR/endpoint, serving.json and
  // the workers' --broker. "": 127.0.0.1 (one host).
  std::string advertise;
  std::string state_dir = "runs/coordinator";
  // The job store: "" : SQLite STATE_DIR/jobs.db (one coordinator); a
  // postgresql:// URI: PostgreSQL, which an active/standby pair shares.
  std::string job_store;
  // The other coordinator of an active/standby pair (same job_store, same
  // state_dir on a shared file system or host), as clients reach it: its job
  // socket, broker sockets and HTTP gateway. Clients, ranks and workers are
  // given both addresses and follow whichever is active. Empty: no peer.
  struct Peer {
    std::string listen, client_listen, worker_listen, http;
    bool enabled() const { return !listen.empty(); }
  } peer;
  // The unprivileged user jobs' ranks and serving workers run as when the
  // coordinator runs as root ("" : as the coordinator). Resolved into
  // local.run_as and slurm.run_as.
  std::string run_as;
  // CURVE on the ZeroMQ sockets: "on", "off", or "auto" (on when any of them
  // listens beyond loopback).
  std::string curve = "auto";
  std::string token;                             // "" : CHORUS_TOKEN, else STATE_DIR/token
  double tick_ms = 200;
  SchedulerOptions scheduler;                    // state_dir/endpoint/token/worker filled at start
  bool local_enabled = true;
  LocalLauncherOptions local;
  bool slurm_enabled = false;
  SlurmLauncherOptions slurm;
  bool serving_enabled = true;
  BrokerOptions broker;     // token filled at start
  GatewayOptions http;      // token and broker endpoint filled at start
  // Folders a model may be deployed from (serving.model_roots; default: the
  // model repository). A job's own export may always be deployed by job id.
  std::vector<std::string> model_roots;
  DashboardOptions dashboard;  // static_dir "": BUILD/dashboard beside the binary's bin/
};

// Whether every ZeroMQ socket of the coordinator (the job socket, and the
// broker's two when serving) listens on loopback only.
bool ListensOnLoopbackOnly(const CoordinatorConfig& config);
// Whether they speak CURVE: `curve: on`, or `auto` beyond loopback.
bool UseCurve(const CoordinatorConfig& config);

// `path` "" : the defaults. Paths in the result are absolute.
Result<CoordinatorConfig> LoadCoordinatorConfig(const std::string& path);

}  // namespace chorus::coordinator
