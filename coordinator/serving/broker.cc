#include "coordinator/serving/broker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "common/net/endpoints.h"
#include "common/net/heartbeat.h"
#include "common/net/zmq_channel.h"
#include "common/proto/infer_frames.h"
#include "coordinator/access.h"
#include "coordinator/credentials.h"
#include "coordinator/serving/serving_router.h"

namespace chorus::coordinator {

namespace {

using Clock = std::chrono::steady_clock;

// Queues are bounded per model by max_queue; the sockets should not drop first.
constexpr int kHighWaterMark = 100000;
// A client's name for a streaming session.
constexpr size_t kMaxSequenceId = 256;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The answer to a request submitted in process once Run has returned.
proto::InferReply StoppedReply() { return ServingRouter::ErrorReply(Unavailable("the broker stopped")); }

}  // namespace

void Histogram::Add(double s) {
  size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  ++counts[i];
  sum += s;
  ++count;
}

struct Broker::Impl {
  // Where an answer goes: back along a client's routing frames, or to the
  // callback of a request submitted in process.
  struct Origin {
    std::vector<std::string> route;
    Done done;
  };
  // What the router does not keep of a request: where its answer goes and
  // what a worker gets.
  struct Pending {
    Origin origin;
    proto::BrokerMessage forward;    // the request's header as workers get it
    std::optional<zmq::message_t> input;  // the client's input frame, forwarded as it came
    std::string client_id;
    std::string model;
    bool chunk = false;  // a streaming session's
  };

  explicit Impl(BrokerOptions o)
      : options(std::move(o)),
        router(RouterOptions{options.max_queue, options.default_timeout, options.worker_liveness,
                             options.max_attempts, options.max_sessions, options.session_idle}) {}

  BrokerOptions options;
  ServingRouter router;
  std::unique_ptr<zmq::socket_t> clients, workers;
  std::map<uint64_t, Pending> pending;
  // What each worker's latest hello says it loaded its models from (broker thread only).
  std::map<std::string, std::map<std::string, std::string>> worker_sources;
  net::Heartbeat beat{{options.heartbeat_interval, std::chrono::milliseconds(0)}, Clock::now()};
  std::optional<Clock::time_point> last_publish;  // Publish integrates ongoing since

  mutable std::mutex mutex;  // guards everything below
  std::map<std::string, ModelStats> stats;
  std::map<std::string, proto::ServedModelInfo> model_info;
  std::map<std::string, std::map<int64_t, proto::ServedModelInfo>> version_info;
  std::set<std::string> expected;
  std::vector<std::string> drain_commands;
  std::vector<std::pair<std::string, std::string>> load_commands;  // worker id, NAME=DIR
  std::vector<std::pair<std::string, std::string>> unload_commands;  // worker id, model
  std::vector<std::pair<std::string, std::string>> forget_commands;  // worker id, why
  std::vector<WorkerStatus> worker_status;
  std::vector<std::pair<proto::InferRequest, Done>> submitted;  // in process, not yet taken
  bool stopped = false;  // Run returned: Submit answers at once

  int wake_fd = -1;  // an eventfd: Submit wakes Run's poll

  // Graph requests on their way through their steps (broker thread only).
  struct ActiveGraph {
    GraphRun run;
    Origin origin;
    std::string client_id, model;
    std::optional<zmq::message_t> input;
    Clock::time_point received, deadline;
    size_t asked = 0;     // sub-requests sent so far (GraphRun's indices)
    std::string session;  // a streaming pipeline's chunk: its graph session's key
  };
  std::map<std::string, GraphSpec> graphs;  // by name; fixed at Bind
  std::map<uint64_t, ActiveGraph> graph_runs;
  uint64_t next_graph = 1;
  // Streaming pipelines' sessions (the steps' own are the router's), by key.
  struct GraphSession {
    GraphStreamState state;
    Clock::time_point last;
  };
  std::map<std::string, GraphSession> graph_sessions;

  // session: a streaming pipeline's chunk's key (credential, graph, sequence id), else empty.
  void StartGraph(const GraphSpec& spec, Origin origin, proto::InferRequest in, std::optional<zmq::message_t> input,
                  std::string session = "") {
    const auto now = Clock::now();
    if (!session.empty()) {
      for (auto it = graph_sessions.begin(); it != graph_sessions.end();)  // the idle ones go, as the router's do
        it = now - it->second.last > options.session_idle ? graph_sessions.erase(it) : std::next(it);
      if (!graph_sessions.count(session) && graph_sessions.size() >= static_cast<size_t>(options.max_sessions)) {
        Refuse(origin, in, ResourceExhausted(std::to_string(graph_sessions.size()) +
                                             " streaming sessions of graphs are open; retry when one ends"));
        return;
      }
      GraphSession& g = graph_sessions[session];
      if (in.sequence().start()) g.state = {};
      g.last = now;
    }
    const uint64_t id = next_graph++;
    const auto timeout = in.timeout_ms() > 0 ? std::chrono::milliseconds(in.timeout_ms()) : options.default_timeout;
    ActiveGraph g{GraphRun(spec, in), std::move(origin), in.id(), in.model(), std::move(input), now, now + timeout, 0,
                  std::move(session)};
    std::vector<proto::InferRequest> first = g.run.Start();
    graph_runs.emplace(id, std::move(g));
    SendSteps(id, std::move(first));
  }

  // A streaming pipeline's chunk is done: its answer, with the graph
  // session's state (chunks of a session end in order).
  proto::InferReply EndGraphChunk(const ActiveGraph& g) {
    double window_s = 0;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const GraphSpec& spec = graphs.at(g.model);
      if (auto info = model_info.find(spec.steps.back()); info != model_info.end()) window_s = info->second.clip_seconds();
    }
    GraphSession& session = graph_sessions[g.session];
    session.last = Clock::now();
    proto::InferReply reply = g.run.StreamReply(window_s, &session.state);
    if (g.run.header().sequence().end()) graph_sessions.erase(g.session);
    return reply;
  }

  // Sends a graph's sub-requests; an answer (even one given at once, a
  // refusal) continues the graph in OnGraphAnswer.
  void SendSteps(uint64_t id, std::vector<proto::InferRequest> steps) {
    for (auto& step : steps) {
      auto g = graph_runs.find(id);
      if (g == graph_runs.end()) return;  // answered meanwhile (a step failed)
      const size_t index = g->second.asked++;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(g->second.deadline - Clock::now());
      step.set_timeout_ms(std::max<int64_t>(1, left.count()));
      std::optional<zmq::message_t> input;
      if (g->second.input) {
        input.emplace();
        input->copy(*g->second.input);  // a reference to the same bytes
      }
      Accept(Origin{{}, [this, id, index](proto::InferReply reply) { OnGraphAnswer(id, index, std::move(reply)); }},
             std::move(step), std::move(input));
    }
  }

  void OnGraphAnswer(uint64_t id, size_t index, proto::InferReply reply) {
    auto g = graph_runs.find(id);
    if (g == graph_runs.end()) return;
    std::vector<proto::InferRequest> next = g->second.run.OnAnswer(index, reply);
    if (g->second.run.done()) {
      ActiveGraph done = std::move(g->second);
      graph_runs.erase(g);
      const bool chunk = !done.session.empty();
      Answer(done.origin, done.client_id, done.model, chunk ? EndGraphChunk(done) : done.run.Reply(), 1,
             done.received, chunk);
      return;
    }
    SendSteps(id, std::move(next));
  }

  // A graph as clients see it: described once its steps are (under the lock).
  void DescribeGraphs() {
    for (const auto& [name, spec] : graphs) {
      ModelStats& st = stats[name];
      st.workers = std::numeric_limits<int>::max();
      bool described = true;
      for (const auto& step : spec.steps) {
        auto s = stats.find(step);
        st.workers = std::min(st.workers, s == stats.end() ? 0 : s->second.workers);
        described &= model_info.count(step) > 0;
      }
      st.versions.clear();
      if (st.workers > 0) st.versions.insert(1);
      if (!described) continue;
      const proto::ServedModelInfo& first = model_info.at(spec.steps.front());
      const proto::ServedModelInfo& last = model_info.at(spec.steps.back());
      proto::ServedModelInfo info;
      info.set_name(name);
      info.set_version(1);
      info.set_task(spec.kind_name());
      info.set_format("graph");
      info.set_sample_rate(first.sample_rate());
      info.set_clip_seconds(first.clip_seconds());
      info.set_frames(first.frames());
      info.set_bins(first.bins());
      *info.mutable_inputs() = first.inputs();
      if (spec.kind == GraphSpec::Kind::kPipeline) {
        proto::TensorSpec* segments = info.add_outputs();
        segments->set_name("segments");
        segments->set_datatype("FP32");
        segments->add_shape(-1);
        segments->add_shape(2);
        for (const auto& o : last.outputs()) {
          proto::TensorSpec* t = info.add_outputs();
          t->set_name(o.name());
          t->set_datatype(o.datatype());
          t->add_shape(-1);
          for (int64_t d : o.shape()) t->add_shape(d);
        }
      } else {
        for (const auto& o : first.outputs())
          if (o.name() != "logits") *info.add_outputs() = o;
        *info.mutable_labels() = first.labels();
      }
      nlohmann::json steps = spec.steps;
      info.set_parameters_json(nlohmann::json{{"graph", spec.kind_name()}, {"steps", steps}}.dump());
      info.set_streams(spec.kind == GraphSpec::Kind::kPipeline && first.streams() && last.streams() &&
                       first.sample_rate() == last.sample_rate());  // one chunk goes to both
      model_info[name] = info;
      version_info[name][1] = info;
    }
  }

  bool GraphStreams(const std::string& graph) const {
    std::lock_guard<std::mutex> lock(mutex);
    auto info = model_info.find(graph);
    return info != model_info.end() && info->second.streams();
  }

  bool Expected(const std::string& model) const {
    std::lock_guard<std::mutex> lock(mutex);
    return expected.count(model) > 0;
  }

  void Answer(const Origin& to, const std::string& client_id, const std::string& model, proto::InferReply reply,
              int attempts, Clock::time_point received, bool chunk = false) {
    reply.set_id(client_id);
    reply.set_attempts(attempts);
    reply.set_broker_us(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - received).count());
    if (reply.model().empty()) reply.set_model(model);
    Count(model, reply, chunk);
    if (to.done) {
      to.done(std::move(reply));
    } else if (Status s = net::SendRouted(*clients, to.route, reply); !s.ok()) {
      spdlog::warn("broker: reply to a client failed: {}", s.message());
    }
  }

  void Count(const std::string& model, const proto::InferReply& reply, bool chunk) {
    std::lock_guard<std::mutex> lock(mutex);
    // Refusals for models nobody serves are counted under one label, so bad
    // requests cannot grow the metrics without bound.
    const bool known = model_info.count(model) || expected.count(model) || graphs.count(model);
    ModelStats& s = stats[known ? model : "_unknown_"];
    ++s.outcomes[reply.code()];
    const double total = reply.broker_us() * 1e-6;
    s.total.Add(total);
    if (chunk) s.chunk.Add(total);
    if (reply.code() == "OK") {
      s.queue.Add(reply.queue_us() * 1e-6);
      s.compute.Add(reply.compute_us() * 1e-6);
      s.overhead.Add(std::max(0.0, total - (reply.queue_us() + reply.compute_us()) * 1e-6));
    }
  }

  // The credential's id when it may `action` on `model`.
  Result<std::string> Authorize(const std::string& token, Action action, const std::string& model) const {
    ASSIGN_OR_RETURN(Principal who, options.credentials->Authenticate(token));
    RETURN_IF_ERROR(Permit(who, action, {"", 0, 0, model}));
    return who.id;
  }

  // A worker: its token's role, and over CURVE the key it was issued with.
  Status AuthorizeWorker(const std::string& token, const std::string& peer_key) const {
    ASSIGN_OR_RETURN(Principal who, options.credentials->Authenticate(token));
    RETURN_IF_ERROR(CheckPeerKey(who, peer_key));
    return Permit(who, Action::kWorkerHello, {"", 0, 0, ""});
  }

  // Refusal before the request was queued.
  void Refuse(const Origin& to, const proto::InferRequest& in, const Status& s) {
    Answer(to, in.id(), in.model(), ServingRouter::ErrorReply(s), 0, Clock::now());
  }

  void OnClient() {
    while (true) {
      auto message = net::ReceiveRouted(*clients);
      if (!message.ok()) continue;
      if (!message->has_value()) return;
      Origin origin;
      for (auto& f : (*message)->route) origin.route.push_back(f.to_string());
      proto::InferRequest in;
      if (Status s = net::ParseProto((*message)->header, &in); !s.ok()) {
        Refuse(origin, in, s);
        continue;
      }
      Accept(std::move(origin), std::move(in), std::move((*message)->payload));
    }
  }

  // Requests submitted in process: their input becomes the frame workers
  // get, handed to ZeroMQ without a copy.
  void OnSubmitted() {
    uint64_t count;
    (void)!read(wake_fd, &count, sizeof count);
    std::vector<std::pair<proto::InferRequest, Done>> taken;
    {
      std::lock_guard<std::mutex> lock(mutex);
      taken.swap(submitted);
    }
    for (auto& [in, done] : taken) {
      std::optional<zmq::message_t> input;
      if (in.input_case() != proto::InferRequest::INPUT_NOT_SET) {
        auto* bytes = new std::string(proto::TakeInput(&in));
        input.emplace(bytes->data(), bytes->size(),
                      [](void*, void* owner) { delete static_cast<std::string*>(owner); }, bytes);
      }
      Accept(Origin{{}, std::move(done)}, std::move(in), std::move(input));
    }
  }

  // One request, from a client or from this process: checked, then queued.
  void Accept(Origin origin, proto::InferRequest in, std::optional<zmq::message_t> input) {
    if (Status s = proto::CheckInputFrame(in, input.has_value()); !s.ok()) {
      Refuse(origin, in, s);
      return;
    }
    auto who = Authorize(in.token(), Action::kInfer, in.model());
    if (!who.ok()) {
      Refuse(origin, in, who.status());
      return;
    }
    in.clear_stream_state();  // the session's state is the router's to attach, never a client's
    if (in.has_sequence() && (in.sequence().id().empty() || in.sequence().id().size() > kMaxSequenceId)) {
      Refuse(origin, in, InvalidArgument("sequence_id must be 1 to " + std::to_string(kMaxSequenceId) + " characters"));
      return;
    }
    if (auto graph = graphs.find(in.model()); graph != graphs.end()) {
      if (in.version() > 1) {
        Refuse(origin, in, NotFound("graph '" + in.model() + "' has version 1 only"));
        return;
      }
      std::string session;
      if (in.has_sequence()) {
        if (!GraphStreams(in.model())) {
          Refuse(origin, in, InvalidArgument("graph '" + in.model() + "' does not stream (a pipeline whose two "
                                             "steps stream does); send whole recordings"));
          return;
        }
        if (in.model().size() + 1 + in.sequence().id().size() > kMaxSequenceId) {  // its steps' sessions are GRAPH/ID
          Refuse(origin, in, InvalidArgument("sequence_id must be 1 to " +
                                             std::to_string(kMaxSequenceId - 1 - in.model().size()) +
                                             " characters for graph '" + in.model() + "'"));
          return;
        }
        session = *who + '\n' + in.model() + '\n' + in.sequence().id();
      }
      StartGraph(graph->second, std::move(origin), std::move(in), std::move(input), std::move(session));
      return;
    }
    std::optional<SessionRef> session;
    if (in.has_sequence()) {
      const std::string& id = in.sequence().id();
      // The credential's, the model's and the client's names: one client cannot reach another's session.
      session = SessionRef{*who + '\n' + in.model() + '\n' + id, in.sequence().start(), in.sequence().end()};
    }
    auto seq = router.Submit(in.model(), in.version(), in.timeout_ms(), Expected(in.model()), Clock::now(),
                             session ? &*session : nullptr);
    if (!seq.ok()) {
      Refuse(origin, in, seq.status());
      return;
    }
    Pending& p = pending[*seq];
    p.origin = std::move(origin);
    p.client_id = in.id();
    p.model = in.model();
    p.chunk = session.has_value();
    // Workers get the header with the broker's id for it and no token, and
    // the input frame as it came (shared with ZeroMQ, not copied).
    in.set_id(std::to_string(*seq));
    in.clear_token();
    *p.forward.mutable_request() = std::move(in);
    p.input = std::move(input);
  }

  void OnWorker() {
    while (true) {
      auto message = net::ReceiveRouted(*workers);
      if (!message.ok()) continue;
      if (!message->has_value()) return;
      const std::string id = (*message)->route.front().to_string();
      proto::WorkerMessage m;
      if (!net::ParseProto((*message)->header, &m).ok()) continue;
      if (Status s = AuthorizeWorker(m.token(), (*message)->peer_key); !s.ok()) {
        spdlog::warn("broker: dropped a message from worker {}: {}", id, s.message());
        continue;
      }
      const auto now = Clock::now();
      if (m.kind_case() == proto::WorkerMessage::kHello) {
        const bool fresh = router.workers().count(id) == 0;
        std::map<std::string, int64_t> models;
        for (const auto& info : m.hello().models()) {
          models[info.name()] = info.version();
          std::lock_guard<std::mutex> lock(mutex);
          model_info[info.name()] = info;
          version_info[info.name()][info.version()] = info;
        }
        router.Hello(id, std::move(models), m.hello().capacity(), m.hello().pid(), now);
        worker_sources[id] = {m.hello().sources().begin(), m.hello().sources().end()};
        if (fresh) {
          const auto& w = router.workers().at(id);
          spdlog::info("broker: worker {} joined ({} model(s), capacity {})", id, w.models.size(), w.capacity);
        }
        continue;
      }
      if (!router.Heard(id, now)) {
        // Not registered: a broker that just took over (a standby, a restart)
        // or one that dropped it as silent. Ask for its hello now rather than
        // wait for the one it repeats every few seconds.
        if (m.kind_case() != proto::WorkerMessage::kGoodbye) {
          proto::BrokerMessage greet;
          greet.set_greet(true);
          Send(id, greet);
        }
        continue;
      }
      switch (m.kind_case()) {
        case proto::WorkerMessage::kReply: {
          // The sequence number first: the reply is moved into the call.
          const uint64_t seq = std::strtoull(m.reply().id().c_str(), nullptr, 10);
          router.Reply(id, seq, std::move(*m.mutable_reply()));
          break;
        }
        case proto::WorkerMessage::kGoodbye:
          spdlog::info("broker: worker {} drained and left", id);
          router.Remove(id, "left");
          worker_sources.erase(id);
          break;
        default:
          break;
      }
    }
  }

  // Carries out what the router decided.
  void Flush() {
    ServingRouter::Outbox out = router.TakeOutbox();
    for (const auto& d : out.dropped) {
      spdlog::warn("broker: worker {} silent for {:.1f} s; dropped", d.worker, d.silent.count() / 1000.0);
      worker_sources.erase(d.worker);
    }
    for (const auto& send : out.sends) {
      Pending& p = pending.at(send.seq);
      if (send.chunk) p.forward.mutable_request()->set_stream_state(send.stream_state);
      zmq::message_t input;
      if (p.input) input.copy(*p.input);  // a reference to the same bytes: kept for a retry
      Send(send.worker, p.forward, p.input ? &input : nullptr);
    }
    for (auto& a : out.answers) {
      auto p = pending.find(a.seq);
      if (p == pending.end()) continue;
      Answer(p->second.origin, p->second.client_id, p->second.model, std::move(a.reply), a.attempts, a.received,
             p->second.chunk);
      pending.erase(p);
    }
  }

  void Send(const std::string& worker, const proto::BrokerMessage& m, zmq::message_t* input = nullptr) {
    if (Status s = net::SendRouted(*workers, {worker}, m, input); !s.ok())
      spdlog::warn("broker: send to worker {} failed: {}", worker, s.message());
  }

  void Commands() {
    std::vector<std::string> drains;
    std::vector<std::pair<std::string, std::string>> loads, unloads, forgets;
    {
      std::lock_guard<std::mutex> lock(mutex);
      drains.swap(drain_commands);
      loads.swap(load_commands);
      unloads.swap(unload_commands);
      forgets.swap(forget_commands);
    }
    for (const auto& [id, why] : forgets) {
      if (!router.workers().count(id)) continue;
      spdlog::warn("broker: worker {} {}; dropped", id, why);
      router.Remove(id, why);
      worker_sources.erase(id);
    }
    for (const auto& [id, spec] : loads) {
      if (!router.workers().count(id)) continue;
      proto::BrokerMessage m;
      m.set_load_model(spec);
      Send(id, m);
      spdlog::info("broker: asked worker {} to load {}", id, spec);
    }
    for (const auto& [id, model] : unloads) {
      if (!router.Unserve(id, model)) continue;
      proto::BrokerMessage m;
      m.set_unload_model(model);
      Send(id, m);
      spdlog::info("broker: asked worker {} to unload {}", id, model);
    }
    for (const auto& id : drains) {
      if (!router.Drain(id)) continue;
      proto::BrokerMessage m;
      m.set_drain(true);
      Send(id, m);
      spdlog::info("broker: draining worker {}", id);
    }
  }

  void Publish() {
    const auto now = Clock::now();
    const std::map<std::string, int> queued = router.Queued(), ongoing = router.Ongoing();
    std::lock_guard<std::mutex> lock(mutex);
    const double dt = last_publish ? Seconds(now - *last_publish) : 0;
    last_publish = now;
    for (auto& [model, s] : stats) {
      s.ongoing_seconds += s.ongoing * dt;  // the last sample held for the interval
      s.queued = s.ongoing = s.workers = 0;
      s.versions.clear();
    }
    for (const auto& [model, n] : queued) stats[model].queued = n;
    for (const auto& [model, n] : ongoing) stats[model].ongoing = n;
    for (const auto& [model, c] : router.Sessions()) {
      ModelStats& m = stats[model];
      m.sessions = c.open;
      m.sessions_opened = c.opened;
      m.sessions_closed = c.closed;
      m.sessions_expired = c.expired;
    }
    worker_status.clear();
    for (const auto& [id, w] : router.workers()) {
      WorkerStatus ws;
      ws.id = id;
      for (const auto& [name, version] : w.models) ws.models.push_back(name);
      ws.capacity = w.capacity;
      ws.ongoing = w.ongoing;
      ws.draining = w.draining;
      ws.pid = w.pid;
      ws.silent_s = Seconds(now - w.last_seen);
      if (auto sources = worker_sources.find(id); sources != worker_sources.end()) ws.sources = sources->second;
      worker_status.push_back(ws);
      for (const auto& [m, version] : w.models)
        if (!w.draining) ++stats[m].workers, stats[m].versions.insert(version);
    }
    DescribeGraphs();
  }
};

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Broker::~Broker() {
  if (impl_->wake_fd >= 0) close(impl_->wake_fd);
}

Result<std::unique_ptr<Broker>> Broker::Bind(BrokerOptions options) {
  if (!options.credentials) return InvalidArgument("the broker needs credentials to check tokens");
  auto impl = std::make_unique<Impl>(options);
  for (const GraphSpec& g : options.graphs) {
    RETURN_IF_ERROR(g.Validate().WithContext("graph " + g.name));
    impl->graphs[g.name] = g;
    impl->expected.insert(g.name);
  }
  for (const auto& [name, g] : impl->graphs)  // a graph of graphs could ask itself forever
    for (const auto& step : g.steps)
      if (impl->graphs.count(step)) return InvalidArgument("graph " + name + ": step " + step + " is a graph");
  std::string client_endpoint, worker_endpoint;
  ASSIGN_OR_RETURN(impl->clients,
                   net::BindRouter(options.client_listen, &client_endpoint,
                                   {kHighWaterMark, options.advertise, options.curve, kClientDomain}));
  ASSIGN_OR_RETURN(impl->workers,
                   net::BindRouter(options.worker_listen, &worker_endpoint,
                                   {kHighWaterMark, options.advertise, options.curve, kWorkerDomain}));
  impl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl->wake_fd < 0) return Internal(std::string("eventfd: ") + std::strerror(errno));
  std::unique_ptr<Broker> broker(new Broker(std::move(impl)));
  broker->client_endpoint_ = net::JoinEndpoints(client_endpoint, options.peer_client_endpoint);
  broker->worker_endpoint_ = net::JoinEndpoints(worker_endpoint, options.peer_worker_endpoint);
  broker->curve_server_key_ = broker->impl_->options.curve.public_key;
  return broker;
}

void Broker::Run(const std::atomic<bool>& stop) {
  Impl& b = *impl_;
  auto next_sweep = Clock::now(), next_publish = Clock::now();
  while (!stop.load()) {
    b.Commands();
    zmq::pollitem_t items[] = {{static_cast<void*>(*b.clients), 0, ZMQ_POLLIN, 0},
                               {static_cast<void*>(*b.workers), 0, ZMQ_POLLIN, 0},
                               {nullptr, b.wake_fd, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 3, std::chrono::milliseconds(20));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) spdlog::error("broker poll: {}", e.what());
      continue;
    }
    if (items[1].revents & ZMQ_POLLIN) b.OnWorker();
    if (items[0].revents & ZMQ_POLLIN) b.OnClient();
    if (items[2].revents & ZMQ_POLLIN) b.OnSubmitted();
    const auto now = Clock::now();
    if (now >= next_sweep) {  // deadlines and liveness to 5 ms
      b.router.Tick(now);
      next_sweep = now + std::chrono::milliseconds(5);
    }
    b.router.Dispatch();
    b.Flush();
    if (b.beat.Due(Clock::now())) {
      proto::BrokerMessage hb;
      hb.set_heartbeat(true);
      for (const auto& [id, w] : b.router.workers()) b.Send(id, hb);
      b.beat.Sent(Clock::now());
    }
    if (now >= next_publish) {  // what Snapshot() reads: fresh to 10 ms
      b.Publish();
      next_publish = now + std::chrono::milliseconds(10);
    }
  }
  // Requests from this process get an answer whatever happens to the rest.
  std::vector<std::pair<proto::InferRequest, Done>> left;
  {
    std::lock_guard<std::mutex> lock(b.mutex);
    b.stopped = true;
    left.swap(b.submitted);
  }
  const proto::InferReply stopped = StoppedReply();
  for (auto& [in, done] : left) done(stopped);
  for (auto& [seq, p] : b.pending)
    if (p.origin.done) p.origin.done(stopped);
  b.pending.clear();
}

void Broker::Submit(proto::InferRequest request, Done done) {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!impl_->stopped) {
      impl_->submitted.emplace_back(std::move(request), std::move(done));
      const uint64_t one = 1;
      (void)!write(impl_->wake_fd, &one, sizeof one);
      return;
    }
  }
  done(StoppedReply());
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

void Broker::Forget(const std::string& worker_id, const std::string& why) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->forget_commands.emplace_back(worker_id, why);
}

void Broker::LoadModel(const std::string& worker_id, const std::string& spec) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->load_commands.emplace_back(worker_id, spec);
}

void Broker::UnloadModel(const std::string& worker_id, const std::string& model) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->unload_commands.emplace_back(worker_id, model);
}

void Broker::Expect(const std::string& model, bool expected) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (expected) impl_->expected.insert(model);
  else impl_->expected.erase(model);
}

}  // namespace chorus::coordinator
