// Dashboard: the coordinator's web dashboard over HTTP. It serves the built
// front end (dashboard/, bundled by setup into BUILD/dashboard) as static
// files under /dashboard/ (GET / redirects there), and the JSON API of
// dashboard_api.h under /api/v1/ behind an admin bearer token (the front
// end's login page keeps it in the browser's session storage). With a
// broker it samples the broker's counters every `sample_interval` into a
// ServingHistory for the latency and throughput charts.
//
// It answers on the gateway's listener (listen: "gateway"; Mount() is given
// to GatewayOptions::mount) or on a listener of its own (listen: HOST:PORT;
// Start() binds it). The destructor stops sampling and its own listener.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/util/status.h"
#include "coordinator/control_client.h"
#include "coordinator/dashboard_api.h"
#include "coordinator/http_common.h"
#include "coordinator/serving/broker.h"
#include "coordinator/serving/serving_history.h"

namespace chorus::net {
class HttpServer;
}

namespace chorus::coordinator {

struct DashboardOptions {
  bool enabled = true;
  std::string listen = "gateway";  // or HOST:PORT (port 0: any free port)
  std::string static_dir;          // the built front end; "" or missing: a page that says how to build it
  std::chrono::milliseconds sample_interval{1000};
  size_t history_samples = 900;    // per model: 15 minutes at one a second
  TlsFiles tls;                    // its own listener over HTTPS when set (serving.tls)
};

class Dashboard {
 public:
  // `broker` may be null (serving off: no serving history).
  // `credentials` check the bearer tokens of /api/v1 (admin only); `control`
  // carries the dashboard's own requests.
  Dashboard(DashboardOptions options, const Credentials& credentials, ControlClient control, Broker* broker);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Adds the dashboard's routes to `server`.
  void Mount(net::HttpServer& server);
  // Binds host:port of options.listen and serves there on threads of its own;
  // returns the port.
  Result<int> Start();
  bool own_listener() const { return options_.listen != "gateway"; }

 private:
  void Sample();

  DashboardOptions options_;
  const Credentials& credentials_;
  ControlClient control_;
  Broker* broker_;
  ServingHistory history_;
  DashboardApi api_;
  std::atomic<bool> stop_{false};
  std::thread sampler_;
  std::unique_ptr<net::HttpServer> server_;
};

}  // namespace chorus::coordinator
