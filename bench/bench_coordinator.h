// A chorus-coordinator started for a benchmark, in a session of its own
// (killed with everything it started when this object goes), with serving
// on loopback (or unix sockets) and calls on its job API: deploy and wait for
// ready workers, undeploy and wait for them to leave, the serving status.
// Not thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/proto/job.pb.h"
#include "common/proto/serve.pb.h"
#include "common/util/status.h"

namespace chorus::bench {

struct CoordinatorOptions {
  std::string transport = "tcp";  // tcp (loopback) or ipc (unix sockets) for clients and workers
  int max_queue = 4096;
  std::string extra_serving;      // more `serving:` keys, as YAML flow entries ("max_sessions: 4096")
};

class Coordinator {
 public:
  ~Coordinator();
  // bin: the folder with chorus-coordinator and chorus-worker; dir: its files.
  Status Start(const std::string& bin, const std::string& dir, const CoordinatorOptions& options = {});
  Status Start(const std::string& bin, const std::string& dir, const std::string& transport) {
    CoordinatorOptions o;
    o.transport = transport;
    return Start(bin, dir, o);
  }
  Result<proto::Reply> Call(proto::Request r);
  Result<proto::ServingStatus> Serving();
  int ReadyWorkers(const std::string& model);
  // Deploys and waits until `workers` are ready.
  Status Deploy(proto::Deployment d, int workers);
  Status Undeploy(const std::string& name);
  // An inference request for `model` with the coordinator's token.
  proto::InferRequest Request(const std::string& model) const;
  const std::string& client_endpoint() const { return client_endpoint_; }
  int http_port() const { return http_port_; }
  const std::string& token() const { return token_; }

 private:
  pid_t pid_ = -1;
  int http_port_ = 0;
  std::string state_, endpoint_, token_, client_endpoint_;
};

// A deployment on the local launcher whose bounds never move on their own
// (no scale-down; scale-up at once above `target`).
proto::Deployment Deployment(const std::string& name, const std::string& dir, const std::string& device, int max_batch,
                             int delay_us, int threads, int min_workers, int max_workers, double target);

// Where served requests' time went, from each one's latency at the client and
// its reply's timing fields (seconds): outside the broker (the client, its
// socket and the hops to and from the broker), in the broker but not the
// worker's batcher (routing and the hops to and from the worker), waiting in
// the worker's batcher, and its batch's compute.
struct LatencyParts {
  std::vector<double> outside, routing, queued, compute;
  void Add(double latency, const proto::InferReply& reply);
};

}  // namespace chorus::bench
