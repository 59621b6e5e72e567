// ServingRouter: the serving plane's routing, as a pure state machine: the
// queues, the dispatch policy, deadlines, retries and worker liveness,
// without sockets, threads, tokens or the wire format. Time comes in as an
// argument, so tests drive it with a fake clock; what to send comes out as
// an outbox the caller empties (the Broker's socket shell, or a test).
//
//  - Submit queues a request for a model (bounded per model: a full queue
//    refuses at once, RESOURCE_EXHAUSTED), or refuses a model nobody serves
//    and nobody expects (NOT_FOUND; a pinned version must be served now by a
//    worker that is not draining).
//  - Dispatch sends queued requests, oldest first, each to the least busy
//    live worker that serves its model (and version, when pinned), is not
//    draining and has room (ongoing < capacity). A pinned request that no
//    free worker can take waits without holding up the unpinned behind it.
//    Ties go round-robin (to the first after the last chosen, in id order),
//    so requests that come one at a time still reach every worker.
//  - Tick drops workers silent for the liveness window; their unanswered
//    requests go back to the front of their queues for another worker, up
//    to max_attempts, else fail UNAVAILABLE. It fails requests past their
//    deadline, queued or at a worker (DEADLINE_EXCEEDED).
//  - Every request is answered exactly once: a late reply, or one from an
//    earlier attempt, is dropped. A request answered by its deadline while a
//    worker still holds it keeps counting against that worker until it
//    replies or is dropped.
// Not thread-safe: one thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "common/proto/serve.pb.h"
#include "common/util/status.h"

namespace chorus::coordinator {

struct RouterOptions {
  int max_queue = 256;  // per model
  std::chrono::milliseconds default_timeout{10000};
  std::chrono::milliseconds worker_liveness{2000};
  int max_attempts = 3;
  int max_sessions = 1024;                         // streaming sessions open at once (all models)
  std::chrono::milliseconds session_idle{60000};   // a session with no chunk for this long expires
  int max_session_backlog = 64;                    // chunks waiting behind a session's one in flight
};

// A request's streaming session: `key` names it (the broker makes it from
// the client's credential, the model and its sequence id, so one client
// cannot reach another's sessions); `start` opens it, `end` closes it.
struct SessionRef {
  std::string key;
  bool start = false;
  bool end = false;
};

class ServingRouter {
 public:
  using Time = std::chrono::steady_clock::time_point;

  struct Send {  // request `seq` goes to `worker`
    uint64_t seq = 0;
    std::string worker;
    bool chunk = false;        // a session's chunk: it carries stream_state
    std::string stream_state;  // the session's state before it ("" : its start)
  };
  struct Answer {  // the one answer to request `seq`
    uint64_t seq;
    proto::InferReply reply;  // the worker's, or a refusal's code and error
    int attempts;             // workers it was sent to
    Time received;
  };
  struct Dropped {  // a worker Tick found silent
    std::string worker;
    std::chrono::milliseconds silent;
  };
  struct Outbox {
    std::vector<Send> sends;
    std::vector<Answer> answers;
    std::vector<Dropped> dropped;
    std::vector<std::string> expired;  // models of sessions that expired idle
  };
  struct SessionCounts {  // per model
    int open = 0;
    int64_t opened = 0, closed = 0, expired = 0;
  };
  struct WorkerState {
    std::map<std::string, int64_t> models;  // name -> version
    int capacity = 1;
    int ongoing = 0;  // requests sent and not yet replied to
    bool draining = false;
    int pid = 0;
    Time last_seen;
  };

  explicit ServingRouter(RouterOptions options);

  // The answer that carries a refusal or failure: its code name and message.
  static proto::InferReply ErrorReply(const Status& s);

  // A client's request for `model` (`version` 0: any), with its own timeout
  // (0: the default). `expected`: the model is deployed, so the request may
  // wait for a worker to come (scale from zero). Returns the request's
  // sequence number, or the refusal; a refused request is not answered
  // through the outbox.
  // `session`: the request is a chunk of that streaming session (see above;
  // a chunk for no open session, or after its end, is refused).
  Result<uint64_t> Submit(const std::string& model, int64_t version, int64_t timeout_ms, bool expected, Time now,
                          const SessionRef* session = nullptr);

  // A worker's hello: (re)registers it with what it serves now.
  void Hello(const std::string& worker, std::map<std::string, int64_t> models, int capacity, int pid, Time now);
  // Any message from a registered worker; false when it is not registered.
  bool Heard(const std::string& worker, Time now);
  // A worker's reply to request `seq`.
  void Reply(const std::string& worker, uint64_t seq, proto::InferReply reply);
  // The worker left (drained) or is to be forgotten: its unanswered requests
  // are retried elsewhere.
  void Remove(const std::string& worker, const std::string& why);
  // No new request goes to the worker; false when it is not registered.
  bool Drain(const std::string& worker);
  // No new request for `model` goes to the worker (it is unloading it; its
  // next hello says what it serves); false when it does not serve it.
  bool Unserve(const std::string& worker, const std::string& model);

  void Tick(Time now);
  void Dispatch();

  Outbox TakeOutbox();

  const std::map<std::string, WorkerState>& workers() const { return pool_; }
  // Per model: requests waiting in the router, and waiting or at a worker
  // (not yet answered).
  std::map<std::string, int> Queued() const;
  std::map<std::string, int> Ongoing() const;
  // Per model: streaming sessions open now, opened, closed and expired ever.
  std::map<std::string, SessionCounts> Sessions() const;

 private:
  struct Request {
    std::string model;
    int64_t version = 0;
    Time received, deadline;
    int attempts = 0;
    std::string worker;  // where it is now ("": queued)
    bool answered = false;
    std::string session;  // the key of its streaming session ("": none)
    bool end = false;     // the session's last chunk
  };
  struct Session {
    std::string model;
    std::string state;              // after the last chunk answered OK
    Time last_chunk;                // the last chunk's arrival
    uint64_t busy = 0;              // the chunk queued or at a worker (0: none)
    std::deque<uint64_t> backlog;   // chunks waiting behind it, in order
    bool ending = false;            // its end chunk has come
  };

  bool Serves(const std::string& model, int64_t version) const;
  static bool Takes(const WorkerState& w, const std::string& model, int64_t version);
  void Fail(uint64_t seq, Request& r, const Status& s);
  // Request `seq` was answered (or failed): its session moves on to its next chunk, or closes.
  void Answered(uint64_t seq, const Request& r);

  RouterOptions options_;
  std::map<uint64_t, Request> requests_;
  std::map<std::string, std::deque<uint64_t>> queues_;
  std::map<std::string, WorkerState> pool_;
  std::map<std::string, Session> sessions_;
  std::map<std::string, SessionCounts> session_counts_;  // open is filled in by Sessions()
  std::string last_pick_;  // the worker chosen last: ties start after it
  uint64_t next_seq_ = 1;
  Outbox outbox_;
};

}  // namespace chorus::coordinator
