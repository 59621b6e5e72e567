#include "coordinator/broker.h"

#include <algorithm>
#include <deque>
#include <optional>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "common/net/zmq_channel.h"
#include "coordinator/broker_wire.h"
#include "coordinator/access.h"
#include "coordinator/credentials.h"

namespace chorus::coordinator {

namespace {

using Clock = std::chrono::steady_clock;

// Queues are bounded per model by max_queue; the sockets should not drop first.
constexpr int kHighWaterMark = 100000;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

void Histogram::Add(double s) {
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  ++counts[i];
  sum += s;
  ++count;
}

struct Broker::Impl {
  struct Request {
    std::vector<std::string> route;  // the client's routing frames
    proto::InferRequest request;     // id replaced by the broker's sequence number; input dropped
    std::string forward;             // BrokerMessage{request} for workers, built from the client's bytes
    std::string client_id;
    Clock::time_point received, deadline;
    int attempts = 0;
    std::string worker;  // where it is now ("" : queued)
    bool answered = false;
  };
  struct Worker {
    std::string id;
    std::map<std::string, int64_t> models;  // name -> version
    int capacity = 1;
    int ongoing = 0;
    bool draining = false;
    int pid = 0;
    Clock::time_point last_seen;
  };

  BrokerOptions options;
  std::unique_ptr<zmq::socket_t> clients, workers;
  std::map<uint64_t, Request> requests;
  std::map<std::string, std::deque<uint64_t>> queues;
  std::map<std::string, Worker> pool;
  uint64_t next_seq = 1;
  Clock::time_point next_heartbeat;
  std::optional<Clock::time_point> last_publish;  // Publish integrates ongoing since

  mutable std::mutex mutex;  // guards everything below
  std::map<std::string, ModelStats> stats;
  std::map<std::string, proto::ServedModelInfo> model_info;
  std::map<std::string, std::map<int64_t, proto::ServedModelInfo>> version_info;
  std::set<std::string> expected;
  std::vector<std::string> drain_commands;
  std::vector<WorkerStatus> worker_status;

  // Whether `w` may be sent a request for `model` (`version` 0: any).
  static bool Takes(const Worker& w, const std::string& model, int64_t version) {
    auto m = w.models.find(model);
    return !w.draining && m != w.models.end() && (version == 0 || m->second == version);
  }

  // `version` 0: any. A pinned version must be served now by a worker that
  // is not draining; an unpinned request may also wait for an expected model.
  bool Serves(const std::string& model, int64_t version = 0) {
    for (const auto& [id, w] : pool)
      if (version == 0 ? w.models.count(model) > 0 : Takes(w, model, version)) return true;
    if (version != 0) return false;
    std::lock_guard<std::mutex> lock(mutex);
    return expected.count(model) > 0;
  }

  void SendToClient(const Request& r, proto::InferReply reply) {
    reply.set_id(r.client_id);
    reply.set_attempts(r.attempts);
    reply.set_broker_us(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - r.received).count());
    if (reply.model().empty()) reply.set_model(r.request.model());
    std::string bytes = reply.SerializeAsString();
    try {
      for (const auto& frame : r.route) clients->send(zmq::buffer(frame), zmq::send_flags::sndmore);
      clients->send(zmq::message_t(), zmq::send_flags::sndmore);
      clients->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      spdlog::warn("broker: reply to a client failed: {}", e.what());
    }
    std::lock_guard<std::mutex> lock(mutex);
    // Refusals for models nobody serves are counted under one label, so bad
    // requests cannot grow the metrics without bound.
    const bool known = model_info.count(r.request.model()) || expected.count(r.request.model());
    ModelStats& s = stats[known ? r.request.model() : "_unknown_"];
    ++s.outcomes[reply.code()];
    const double total = reply.broker_us() * 1e-6;
    s.total.Add(total);
    if (reply.code() == "OK") {
      s.queue.Add(reply.queue_us() * 1e-6);
      s.compute.Add(reply.compute_us() * 1e-6);
      s.overhead.Add(std::max(0.0, total - (reply.queue_us() + reply.compute_us()) * 1e-6));
    }
  }

  void Fail(Request& r, const Status& s) {
    proto::InferReply reply;
    reply.set_code(StatusCodeName(s.code()));
    reply.set_error(s.message());
    SendToClient(r, reply);
    r.answered = true;
  }

  Status Authorize(const std::string& token, Action action, const std::string& model) const {
    ASSIGN_OR_RETURN(Principal who, options.credentials->Authenticate(token));
    return Permit(who, action, {"", 0, 0, model});
  }

  // A worker: its token's role, and over CURVE the key it was issued with.
  Status AuthorizeWorker(const std::string& token, const std::string& peer_key) const {
    ASSIGN_OR_RETURN(Principal who, options.credentials->Authenticate(token));
    RETURN_IF_ERROR(CheckPeerKey(who, peer_key));
    return Permit(who, Action::kWorkerHello, {"", 0, 0, ""});
  }

  // Refusal before the request was queued.
  void Refuse(std::vector<std::string> route, const proto::InferRequest& in, const Status& s) {
    Request r;
    r.route = std::move(route);
    r.request = in;
    r.client_id = in.id();
    r.received = Clock::now();
    Fail(r, s);
  }

  void OnClient() {
    while (true) {
      auto message = net::ReceiveRouted(*clients);
      if (!message.ok()) continue;
      if (!message->has_value()) return;
      std::vector<std::string> route;
      for (auto& f : (*message)->route) route.push_back(f.to_string());
      proto::InferRequest in;
      if (Status s = ParseRequestHeader((*message)->payload.data(), (*message)->payload.size(), &in); !s.ok()) {
        Refuse(route, in, s);
        continue;
      }
      if (Status s = Authorize(in.token(), Action::kInfer, in.model()); !s.ok()) {
        Refuse(route, in, s);
        continue;
      }
      in.clear_token();
      if (in.model().empty()) {
        Refuse(route, in, InvalidArgument("the request names no model"));
        continue;
      }
      if (!Serves(in.model(), in.version())) {
        Refuse(route, in, NotFound("no worker serves model '" + in.model() + "'" +
                                   (in.version() ? " version " + std::to_string(in.version()) : "")));
        continue;
      }
      auto& queue = queues[in.model()];
      if (static_cast<int>(queue.size()) >= options.max_queue) {
        Refuse(route, in,
               ResourceExhausted("the queue of model '" + in.model() + "' is full (" +
                                 std::to_string(options.max_queue) + " waiting); retry later"));
        continue;
      }
      const uint64_t seq = next_seq++;
      Request& r = requests[seq];
      r.route = std::move(route);
      r.client_id = in.id();
      r.received = Clock::now();
      const int64_t timeout_ms = in.timeout_ms() > 0 ? in.timeout_ms() : options.default_timeout.count();
      r.deadline = r.received + std::chrono::milliseconds(timeout_ms);
      // Workers get the client's bytes with the id and token overridden
      // (appended fields win), wrapped as BrokerMessage.request: no re-encoding.
      std::string overrides;
      AppendBytesField(&overrides, proto::InferRequest::kIdFieldNumber, std::to_string(seq));
      AppendBytesField(&overrides, proto::InferRequest::kTokenFieldNumber, "");
      const zmq::message_t& payload = (*message)->payload;
      AppendVarint(&r.forward, (static_cast<uint64_t>(proto::BrokerMessage::kRequestFieldNumber) << 3) | 2);
      AppendVarint(&r.forward, payload.size() + overrides.size());
      r.forward.reserve(r.forward.size() + payload.size() + overrides.size());
      r.forward.append(static_cast<const char*>(payload.data()), payload.size());
      r.forward.append(overrides);
      r.request = std::move(in);
      r.request.set_id(std::to_string(seq));
      queue.push_back(seq);
    }
  }

  void OnWorker() {
    while (true) {
      auto message = net::ReceiveRouted(*workers);
      if (!message.ok()) continue;
      if (!message->has_value()) return;
      const std::string id = (*message)->route.front().to_string();
      proto::WorkerMessage m;
      if (!net::ParseProto((*message)->payload, &m).ok()) continue;
      if (Status s = AuthorizeWorker(m.token(), (*message)->peer_key); !s.ok()) {
        spdlog::warn("broker: dropped a message from worker {}: {}", id, s.message());
        continue;
      }
      auto it = pool.find(id);
      if (m.kind_case() == proto::WorkerMessage::kHello) {
        Worker& w = pool[id];
        const bool fresh = w.id.empty();
        w.id = id;
        w.models.clear();
        for (const auto& info : m.hello().models()) {
          w.models[info.name()] = info.version();
          std::lock_guard<std::mutex> lock(mutex);
          model_info[info.name()] = info;
          version_info[info.name()][info.version()] = info;
        }
        w.capacity = std::max(1, m.hello().capacity());
        w.pid = m.hello().pid();
        w.last_seen = Clock::now();
        if (fresh) spdlog::info("broker: worker {} joined ({} model(s), capacity {})", id, w.models.size(), w.capacity);
        continue;
      }
      if (it == pool.end()) continue;  // not registered (yet): its hello will come
      Worker& w = it->second;
      w.last_seen = Clock::now();
      switch (m.kind_case()) {
        case proto::WorkerMessage::kReply: {
          uint64_t seq = std::strtoull(m.reply().id().c_str(), nullptr, 10);
          auto r = requests.find(seq);
          if (r == requests.end() || r->second.worker != id) break;  // late, or from an old attempt
          --w.ongoing;
          if (!r->second.answered) SendToClient(r->second, m.reply());
          requests.erase(r);
          break;
        }
        case proto::WorkerMessage::kGoodbye:
          spdlog::info("broker: worker {} drained and left", id);
          Remove(id, "left");
          break;
        default:
          break;
      }
    }
  }

  // Drops a worker; its unanswered requests go back to the front of their queues.
  void Remove(const std::string& id, const std::string& why) {
    std::vector<uint64_t> orphans;
    for (auto& [seq, r] : requests)
      if (r.worker == id) orphans.push_back(seq);
    pool.erase(id);
    for (auto it = orphans.rbegin(); it != orphans.rend(); ++it) {
      Request& r = requests[*it];
      r.worker.clear();
      if (r.answered) {
        requests.erase(*it);
      } else if (r.attempts >= options.max_attempts) {
        Fail(r, Unavailable("worker " + id + " " + why + " while answering; gave up after " +
                            std::to_string(r.attempts) + " attempts"));
        requests.erase(*it);
      } else {
        queues[r.request.model()].push_front(*it);
      }
    }
  }

  void Sweep() {
    const auto now = Clock::now();
    std::vector<std::string> dead;
    for (const auto& [id, w] : pool)
      if (now - w.last_seen > options.worker_liveness) dead.push_back(id);
    for (const auto& id : dead) {
      spdlog::warn("broker: worker {} silent for {:.1f} s; dropped", id, Seconds(now - pool[id].last_seen));
      Remove(id, "was lost");
    }
    for (auto& [model, queue] : queues) {
      for (auto it = queue.begin(); it != queue.end();) {
        Request& r = requests[*it];
        if (now >= r.deadline) {
          Fail(r, DeadlineExceeded("no answer within " +
                                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      r.deadline - r.received).count()) +
                                   " ms (waited for a free worker)"));
          requests.erase(*it);
          it = queue.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& [seq, r] : requests)
      if (!r.answered && !r.worker.empty() && now >= r.deadline)
        Fail(r, DeadlineExceeded("no answer within the deadline from worker " + r.worker));
  }

  // Oldest first, each to the least busy worker that serves its model (and
  // its version, when pinned). A pinned request no free worker can take
  // waits without holding up the unpinned ones behind it.
  void Dispatch() {
    for (auto& [model, queue] : queues) {
      for (auto it = queue.begin(); it != queue.end();) {
        Request& r = requests[*it];
        const int64_t version = r.request.version();
        Worker* best = nullptr;
        for (auto& [id, w] : pool)
          if (Takes(w, model, version) && w.ongoing < w.capacity && (!best || w.ongoing < best->ongoing)) best = &w;
        if (!best) {
          if (version == 0) break;  // nothing free for anyone
          ++it;
          continue;
        }
        it = queue.erase(it);
        r.worker = best->id;
        ++r.attempts;
        ++best->ongoing;
        SendBytes(best->id, r.forward);
      }
    }
  }

  void Send(const std::string& worker, const proto::BrokerMessage& m) { SendBytes(worker, m.SerializeAsString()); }

  void SendBytes(const std::string& worker, const std::string& bytes) {
    try {
      workers->send(zmq::buffer(worker), zmq::send_flags::sndmore);
      workers->send(zmq::message_t(), zmq::send_flags::sndmore);
      workers->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      spdlog::warn("broker: send to worker {} failed: {}", worker, e.what());
    }
  }

  void Commands() {
    std::vector<std::string> drains;
    {
      std::lock_guard<std::mutex> lock(mutex);
      drains.swap(drain_commands);
    }
    for (const auto& id : drains) {
      auto it = pool.find(id);
      if (it == pool.end()) continue;
      it->second.draining = true;
      proto::BrokerMessage m;
      m.set_drain(true);
      Send(id, m);
      spdlog::info("broker: draining worker {}", id);
    }
  }

  void Publish() {
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex);
    const double dt = last_publish ? Seconds(now - *last_publish) : 0;
    last_publish = now;
    for (auto& [model, s] : stats) {
      s.ongoing_seconds += s.ongoing * dt;  // the last sample held for the interval
      s.queued = s.ongoing = s.workers = 0;
      s.versions.clear();
    }
    for (const auto& [model, q] : queues) stats[model].queued = static_cast<int>(q.size());
    for (const auto& [seq, r] : requests)
      if (!r.answered) ++stats[r.request.model()].ongoing;
    worker_status.clear();
    for (const auto& [id, w] : pool) {
      WorkerStatus ws;
      ws.id = id;
      for (const auto& [name, version] : w.models) ws.models.push_back(name);
      ws.capacity = w.capacity;
      ws.ongoing = w.ongoing;
      ws.draining = w.draining;
      ws.pid = w.pid;
      ws.silent_s = Seconds(now - w.last_seen);
      worker_status.push_back(ws);
      for (const auto& [m, version] : w.models)
        if (!w.draining) ++stats[m].workers, stats[m].versions.insert(version);
    }
  }
};

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Broker::~Broker() = default;

Result<std::unique_ptr<Broker>> Broker::Bind(BrokerOptions options) {
  if (!options.credentials) return InvalidArgument("the broker needs credentials to check tokens");
  auto impl = std::make_unique<Impl>();
  std::string client_endpoint, worker_endpoint;
  ASSIGN_OR_RETURN(impl->clients,
                   net::BindRouter(options.client_listen, &client_endpoint,
                                   {kHighWaterMark, options.advertise, options.curve, kClientDomain}));
  ASSIGN_OR_RETURN(impl->workers,
                   net::BindRouter(options.worker_listen, &worker_endpoint,
                                   {kHighWaterMark, options.advertise, options.curve, kWorkerDomain}));
  impl->options = std::move(options);
  std::unique_ptr<Broker> broker(new Broker(std::move(impl)));
  broker->client_endpoint_ = client_endpoint;
  broker->worker_endpoint_ = worker_endpoint;
  broker->curve_server_key_ = broker->impl_->options.curve.public_key;
  return broker;
}

void Broker::Run(const std::atomic<bool>& stop) {
  Impl& b = *impl_;
  auto next_sweep = Clock::now(), next_publish = Clock::now();
  while (!stop.load()) {
    b.Commands();
    zmq::pollitem_t items[] = {{static_cast<void*>(*b.clients), 0, ZMQ_POLLIN, 0},
                               {static_cast<void*>(*b.workers), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(20));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) spdlog::error("broker poll: {}", e.what());
      continue;
    }
    if (items[1].revents & ZMQ_POLLIN) b.OnWorker();
    if (items[0].revents & ZMQ_POLLIN) b.OnClient();
    const auto now = Clock::now();
    if (now >= next_sweep) {  // deadlines and liveness to 5 ms
      b.Sweep();
      next_sweep = now + std::chrono::milliseconds(5);
    }
    b.Dispatch();
    if (Clock::now() >= b.next_heartbeat) {
      proto::BrokerMessage hb;
      hb.set_heartbeat(true);
      for (const auto& [id, w] : b.pool) b.Send(id, hb);
      b.next_heartbeat = Clock::now() + b.options.heartbeat_interval;
    }
    if (now >= next_publish) {  // what Snapshot() reads: fresh to 10 ms
      b.Publish();
      next_publish = now + std::chrono::milliseconds(10);
    }
  }
}

BrokerSnapshot Broker::Snapshot() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  BrokerSnapshot s;
  s.models = impl_->stats;
  s.model_info = impl_->model_info;
  s.version_info = impl_->version_info;
  s.expected = impl_->expected;
  s.workers = impl_->worker_status;
  return s;
}

void Broker::Drain(const std::string& worker_id) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->drain_commands.push_back(worker_id);
}

void Broker::Expect(const std::string& model, bool expected) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (expected) impl_->expected.insert(model);
  else impl_->expected.erase(model);
}

}  // namespace chorus::coordinator
