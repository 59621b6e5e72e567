// Broker: the inference broker inside the coordinator. Clients send
// InferRequests to its client ROUTER; inference workers (DEALER) register on
// its worker ROUTER with the models they serve and their capacity, and
// heartbeat both ways (the ZeroMQ guide's Paranoid Pirate).
//
//  - Every message is authenticated (Credentials): a client's request needs
//    a token that may infer on its model, a worker's messages one that may
//    register as a worker (the worker role, or admin).
//  - Each request gets a deadline (its timeout, else the default) and waits
//    in a bounded queue per model; a full queue refuses at once
//    (RESOURCE_EXHAUSTED), an unknown model too (NOT_FOUND).
//  - Dispatch goes to the least-loaded live, non-draining worker that serves
//    the model and has room (ongoing < capacity).
//  - A worker silent for the liveness window is dropped; its unanswered
//    requests go to another worker, up to max_attempts, else fail with
//    UNAVAILABLE. Every request is answered exactly once, by its deadline.
//  - A request with a `sequence` is a chunk of a streaming session, keyed by
//    the client's credential, the model and the sequence id; the router
//    keeps each session's state and sends it with its next chunk, so a
//    session outlives the worker that served it (serving_router.h). A
//    client's own stream_state is discarded.
//  - A request for a graph (BrokerOptions::graphs: a pipeline or an
//    ensemble) becomes requests for its steps' models, routed like any
//    (the input frame shared, not copied; each with what is left of the
//    graph request's deadline), and one answer combined from theirs
//    (GraphRun). A graph is described like a model (ServedModelInfo: the
//    first step's inputs, its own outputs) once its steps are served, and
//    has as many workers as its least-served step.
//
// The routing (queues, dispatch, deadlines, liveness, retries) is
// ServingRouter's (serving_router.h), a pure state machine; the Broker is its
// socket shell: tokens, the framing (common/net: a small header, and the
// input frame forwarded to the worker as the client sent it), heartbeats
// (net::Heartbeat), statistics.
// Run() owns the sockets and runs on one thread; Submit(), Snapshot(),
// Drain(), Forget(), LoadModel(), UnloadModel() and Expect() may be called
// from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/net/curve.h"
#include "common/proto/serve.pb.h"
#include "common/util/status.h"
#include "coordinator/serving/graph.h"

namespace chorus::coordinator {

class Credentials;

struct BrokerOptions {
  std::string client_listen = "tcp://127.0.0.1:0";
  std::string worker_listen = "tcp://127.0.0.1:0";
  std::string advertise;  // the host in the endpoints when a listen address is a wildcard ("": 127.0.0.1)
  // An active/standby pair: the other coordinator's broker endpoints, as its
  // clients and workers reach them. client_endpoint() and worker_endpoint()
  // then name both (net::JoinEndpoints), so whoever connects follows a failover.
  std::string peer_client_endpoint, peer_worker_endpoint;
  const Credentials* credentials = nullptr;  // required; outlives the broker
  // Not empty: both sockets are CURVE servers with these keys (ZAP domains
  // kClientDomain and kWorkerDomain; a ZapHandler must run in the process),
  // and a worker token counts only from the worker key.
  net::CurveKeys curve;
  int max_queue = 256;  // per model
  std::chrono::milliseconds default_timeout{10000};
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds worker_liveness{2000};
  int max_attempts = 3;
  int max_sessions = 1024;                        // streaming sessions open at once
  std::chrono::milliseconds session_idle{60000};  // a session with no chunk for this long expires
  std::vector<GraphSpec> graphs;                  // models made of models (graph.h), validated
};

// Latencies in seconds, Prometheus-style cumulative buckets.
struct Histogram {
  static constexpr std::array<double, 16> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,     10};
  std::array<int64_t, 17> counts{};  // last: +Inf
  double sum = 0;
  int64_t count = 0;
  void Add(double seconds);
};

struct ModelStats {
  std::map<std::string, int64_t> outcomes;  // reply code -> requests
  Histogram queue, compute, overhead, total;
  Histogram chunk;  // streaming sessions' chunks: from arrival to answer
  int queued = 0;   // waiting in the broker
  int ongoing = 0;  // queued + at workers
  // Integral of `ongoing` over time (request-seconds), sampled every publish;
  // two readings' difference over their interval is the mean concurrency
  // between them, which a momentary dip (a batch just answered) cannot zero.
  double ongoing_seconds = 0;
  int workers = 0;
  int sessions = 0;  // streaming sessions open
  int64_t sessions_opened = 0, sessions_closed = 0, sessions_expired = 0;
  std::set<int64_t> versions;  // served now by workers that are not draining
};

struct WorkerStatus {
  std::string id;
  std::vector<std::string> models;
  int capacity = 0;
  int ongoing = 0;
  bool draining = false;
  int pid = 0;
  double silent_s = 0;
  std::map<std::string, std::string> sources;  // model name -> the folder the worker loaded it from
};

struct BrokerSnapshot {
  std::map<std::string, ModelStats> models;
  std::map<std::string, proto::ServedModelInfo> model_info;  // as the workers describe them (the latest hello)
  std::map<std::string, std::map<int64_t, proto::ServedModelInfo>> version_info;  // every version ever seen
  std::set<std::string> expected;  // deployed models (Expect), served now or not
  std::vector<WorkerStatus> workers;
};

class Broker {
 public:
  static Result<std::unique_ptr<Broker>> Bind(BrokerOptions options);
  ~Broker();

  const std::string& client_endpoint() const { return client_endpoint_; }
  const std::string& worker_endpoint() const { return worker_endpoint_; }
  // The public key of its CURVE sockets ("" : no CURVE).
  const std::string& curve_server_key() const { return curve_server_key_; }

  void Run(const std::atomic<bool>& stop);

  // A request from this process (the gateway): checked and routed like one
  // from the client socket (its token, its model, the queue bound, its
  // deadline), with no socket and no serialization; its input goes to the
  // worker as a frame without a copy. `done` gets the one answer, on the
  // broker's thread (keep it short); a request submitted after Run returned
  // is answered UNAVAILABLE at once. Any thread.
  using Done = std::function<void(proto::InferReply)>;
  void Submit(proto::InferRequest request, Done done);

  BrokerSnapshot Snapshot() const;
  // Asks a worker to finish its requests and leave; no new request goes to it.
  void Drain(const std::string& worker_id);
  // The worker's process is gone (its launcher saw it end): it is dropped
  // now, and what it held goes to other workers, as if found silent.
  void Forget(const std::string& worker_id, const std::string& why);
  // Asks a worker to load a model folder (NAME=DIR) in place of what serves
  // under NAME; its next hello names the folder (WorkerStatus::sources).
  void LoadModel(const std::string& worker_id, const std::string& spec);
  // Asks a worker to unload `model` in place: no new request for it goes
  // there; the worker answers what it holds, drops it and says hello.
  void UnloadModel(const std::string& worker_id, const std::string& model);
  // Requests for `model` are queued even while no worker serves it (scale from
  // zero); without it they are refused as NOT_FOUND.
  void Expect(const std::string& model, bool expected);

 private:
  struct Impl;
  explicit Broker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string client_endpoint_, worker_endpoint_, curve_server_key_;
};

}  // namespace chorus::coordinator
