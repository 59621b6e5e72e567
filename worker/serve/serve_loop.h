// ServeLoop: the body of `chorus-worker serve`. One thread does everything:
// it keeps a net::DealerChannel to the broker (hello with the models it
// serves and its capacity, heartbeats both ways, reconnect when the broker
// falls silent; each request's input arrives as a frame of its own beside
// its header), prepares each request's input as it arrives, queues it per
// model, and runs batches when the batching policy says so, replying with
// top-k labels and the time spent queued and computing. A drain request (or
// the stop flag) finishes what is queued, says goodbye and returns. The
// broker may ask it to load a model folder (a rolling update in place): the
// folder opens on a thread of its own while the old version serves, then
// replaces it between two messages, and a hello says what it serves now
// (and from which folders). Asked to unload a model, it refuses new requests
// for it, answers those it had accepted, then drops it and says hello.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/net/curve.h"
#include "common/util/status.h"
#include "worker/serve/batch_policy.h"

namespace chorus::serve {

struct ServeOptions {
  std::string broker;                   // the broker's worker endpoint
  std::string token;
  net::CurveClient curve;               // enabled: the broker speaks CURVE (CHORUS_CURVE_* from the coordinator)
  std::string worker_id;                // "" : host:pid
  std::vector<std::string> model_dirs;  // version folders to load at start (NAME=DIR serves DIR as NAME)
  BatchPolicyOptions batching;
  int capacity = 64;                    // requests accepted at once
  std::string device = "cpu";           // where batches run: cpu, cuda or cuda:N
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds broker_liveness{3000};  // broker silent this long: reconnect
  std::chrono::milliseconds give_up{0};  // > 0: broker silent this long, exit (Unavailable); 0: never
};

class ServeLoop {
 public:
  static Result<std::unique_ptr<ServeLoop>> Create(ServeOptions options);
  virtual ~ServeLoop() = default;
  // Serves until drained by the broker, `stop` becomes true, or (give_up) the
  // broker has been silent too long: then Unavailable.
  virtual Status Run(const std::atomic<bool>& stop) = 0;
};

}  // namespace chorus::serve
