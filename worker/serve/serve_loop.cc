#include "worker/serve/serve_loop.h"

#include <unistd.h>

#include <algorithm>
#include <deque>
#include <future>
#include <map>
#include <set>

#include <torch/torch.h>

#include <spdlog/spdlog.h>
#include <zmq.hpp>

#include "common/net/dealer_channel.h"
#include "common/proto/infer_frames.h"
#include "common/proto/serve.pb.h"
#include "worker/serve/served_model.h"

namespace chorus::serve {

namespace {

using Clock = std::chrono::steady_clock;

int64_t Micros(Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

// A model opened from a NAME=DIR or DIR spec, not yet serving.
struct Opened {
  std::unique_ptr<ServedModel> model;
  std::string dir;
};

Result<Opened> OpenModel(const std::string& spec, const std::string& device) {
  std::string dir = spec, rename;
  if (size_t eq = spec.find('='); eq != std::string::npos && spec.find('/') > eq) {
    rename = spec.substr(0, eq);
    dir = spec.substr(eq + 1);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ServedModel> model, ServedModel::Load(dir, device));
  if (!rename.empty()) model->Rename(rename);
  return Opened{std::move(model), dir};
}

struct Chunk {  // a streaming session's, waiting for the loop
  proto::InferRequest request;
  Clock::time_point received;
};

struct Pending {
  proto::InferRequest request;
  at::Tensor input;
  Clock::time_point received;
  int64_t prepare_us = 0;
};

class Loop : public ServeLoop {
 public:
  explicit Loop(ServeOptions options) : options_(std::move(options)) {}

  Status Init() {
    RETURN_IF_ERROR(ValidateBatchPolicy(options_.batching));
    if (options_.worker_id.empty()) {
      char host[256] = {0};
      gethostname(host, sizeof host - 1);
      options_.worker_id = std::string(host) + ":" + std::to_string(getpid());
    }
    for (const auto& dir : options_.model_dirs) RETURN_IF_ERROR(LoadModel(dir));
    return Status::Ok();
  }

  Status Run(const std::atomic<bool>& stop) override {
    channel_ = std::make_unique<net::DealerChannel>(net::DealerOptions{
        options_.broker, options_.worker_id, options_.curve,
        {options_.heartbeat_interval, options_.broker_liveness}, std::chrono::milliseconds(200)});
    SendHello();
    last_contact_ = Clock::now();
    bool draining = false;
    while (true) {
      if (stop.load() && !draining) {
        spdlog::info("stopping: finishing {} queued request(s)", Queued());
        draining = true;
      }
      FinishLoad();
      const auto now = Clock::now();
      switch (channel_->Poll(now)) {
        case net::DealerChannel::Event::kBeat:
          // Every tenth beat repeats the hello, so a restarted broker learns our models.
          if (++beats_ % 10 == 0) SendHello();
          else Send([](proto::WorkerMessage& m) { m.set_heartbeat(true); });
          break;
        case net::DealerChannel::Event::kReconnected:
          SendHello();
          break;
        case net::DealerChannel::Event::kNone:
          break;
      }
      if (options_.give_up.count() > 0 && now - last_contact_ > options_.give_up)
        return Unavailable("no word from the broker " + options_.broker + " for " +
                           std::to_string(options_.give_up.count()) + " ms; giving up");
      RunChunks();
      // Run every batch that is due; find how long until the next one may be.
      auto wait = std::chrono::duration_cast<std::chrono::microseconds>(channel_->UntilDue(Clock::now()));
      for (auto& [name, queue] : queues_) {
        while (!queue.empty()) {
          BatchDecision d = DecideBatch(options_.batching, static_cast<int>(queue.size()),
                                        std::chrono::duration_cast<std::chrono::microseconds>(
                                            Clock::now() - queue.front().received));
          if ((draining || unloading_.count(name)) && d.take == 0)  // what waits runs now
            d.take = std::min<int>(static_cast<int>(queue.size()), options_.batching.max_batch_size);
          if (d.take == 0) {
            wait = std::min(wait, d.wait);
            break;
          }
          RunBatch(name, d.take);
        }
      }
      FinishUnloads();
      if (draining && Queued() == 0) {
        Send([](proto::WorkerMessage& m) { m.set_goodbye(true); });
        spdlog::info("drained; goodbye");
        return Status::Ok();
      }
      zmq::pollitem_t item{static_cast<void*>(channel_->socket()), 0, ZMQ_POLLIN, 0};
      const long ms = std::max<long>(0, static_cast<long>((wait.count() + 999) / 1000));
      try {
        zmq::poll(&item, 1, std::chrono::milliseconds(std::min<long>(ms, 100)));
      } catch (const zmq::error_t& e) {
        if (e.num() != EINTR) return Unavailable(std::string("poll: ") + e.what());
        continue;
      }
      if (item.revents & ZMQ_POLLIN) {
        if (Status s = Receive(&draining); !s.ok()) return s;
      }
    }
  }

 private:
  // `spec` is DIR, or NAME=DIR to serve it under NAME.
  Status LoadModel(const std::string& spec) {
    ASSIGN_OR_RETURN(Opened opened, OpenModel(spec, options_.device));
    Install(std::move(opened));
    return Status::Ok();
  }

  // Serves `opened` under its name from now on, in place of what served it.
  void Install(Opened opened) {
    const std::string name = opened.model->info().name();
    spdlog::info("serving {} version {} (task {}, {}, on {}) from {}", name, opened.model->info().version(),
                 opened.model->info().task(), opened.model->info().format(), options_.device, opened.dir);
    models_[name] = std::move(opened.model);
    sources_[name] = opened.dir;
    unloading_.erase(name);  // loaded again after an unload: it stays
  }

  // A model the broker asked to unload goes once every request and chunk
  // it had accepted is answered (none is refused for it); then a hello says
  // what the worker serves now.
  void FinishUnloads() {
    for (auto it = unloading_.begin(); it != unloading_.end();) {
      const std::string& name = *it;
      if (!queues_[name].empty() || !chunks_[name].empty()) {
        ++it;
        continue;
      }
      spdlog::info("unloaded {}", name);
      models_.erase(name);
      sources_.erase(name);
      it = unloading_.erase(it);
      SendHello();
    }
  }

  // A load the broker asked for opens on a thread of its own, so requests
  // and heartbeats go on meanwhile (the old version serves); it is installed
  // here, on the loop's thread, between two messages. One at a time, in order.
  void StartLoad(const std::string& spec) {
    if (std::find(loads_.begin(), loads_.end(), spec) != loads_.end()) return;  // asked again: already coming
    loads_.push_back(spec);
    NextLoad();
  }
  void NextLoad() {
    if (opening_.valid() || loads_.empty()) return;
    opening_ = std::async(std::launch::async, OpenModel, loads_.front(), options_.device);
  }
  void FinishLoad() {
    if (!opening_.valid() || opening_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
    Result<Opened> opened = opening_.get();
    if (opened.ok()) Install(std::move(*opened));
    else spdlog::error("load {}: {}", loads_.front(), opened.status().ToString());
    loads_.pop_front();
    SendHello();  // what it serves now, either way
    NextLoad();
  }

  size_t Queued() const {
    size_t n = 0;
    for (const auto& [name, q] : queues_) n += q.size();
    for (const auto& [name, c] : chunks_) n += c.size();
    return n;
  }

  template <typename Fill>
  void Send(Fill fill) {
    proto::WorkerMessage m;
    m.set_token(options_.token);
    fill(m);
    if (Status s = channel_->Send(m); !s.ok()) spdlog::warn("{}", s.ToString());
  }

  void SendHello() {
    Send([this](proto::WorkerMessage& m) {
      proto::WorkerHello* h = m.mutable_hello();
      h->set_worker_id(options_.worker_id);
      h->set_capacity(options_.capacity);
      h->set_pid(static_cast<int>(getpid()));
      for (const auto& [name, model] : models_) *h->add_models() = model->info();
      for (const auto& [name, dir] : sources_) (*h->mutable_sources())[name] = dir;
    });
  }

  void ReplyError(const proto::InferRequest& r, const Status& s) {
    Send([&](proto::WorkerMessage& m) {
      proto::InferReply* reply = m.mutable_reply();
      reply->set_id(r.id());
      reply->set_model(r.model());
      reply->set_code(StatusCodeName(s.code()));
      reply->set_error(s.message());
      reply->set_worker(options_.worker_id);
    });
  }

  Status Receive(bool* draining) {
    while (true) {
      auto message = channel_->Receive();
      if (!message.ok()) {
        if (message.status().code() == StatusCode::kUnavailable) return message.status();
        spdlog::warn("from the broker: {}", message.status().message());
        continue;
      }
      if (!message->has_value()) return Status::Ok();
      last_contact_ = Clock::now();
      proto::BrokerMessage m;
      if (Status s = net::ParseProto((*message)->header, &m); !s.ok()) {
        spdlog::warn("from the broker: {}", s.message());
        continue;
      }
      switch (m.kind_case()) {
        case proto::BrokerMessage::kRequest: {
          const auto& payload = (*message)->payload;
          Status s = proto::PutInput(m.mutable_request(), payload ? payload->data() : nullptr,
                                     payload ? payload->size() : 0, payload.has_value());
          if (s.ok()) Accept(std::move(*m.mutable_request()));
          else ReplyError(m.request(), s);
          break;
        }
        case proto::BrokerMessage::kDrain:
          spdlog::info("the broker asked to drain");
          *draining = true;
          break;
        case proto::BrokerMessage::kLoadModel:
          StartLoad(m.load_model());  // answered by a hello once it serves
          break;
        case proto::BrokerMessage::kGreet:  // a broker that does not know us (it took over)
          SendHello();
          break;
        case proto::BrokerMessage::kUnloadModel:  // answered by a hello once what waits for it is answered
          if (models_.count(m.unload_model())) unloading_.insert(m.unload_model());
          break;
        default:
          break;  // heartbeat: receiving it was the sign of life
      }
    }
  }

  // Takes the request (its audio and session state are not copied).
  void Accept(proto::InferRequest&& r) {
    auto it = models_.find(r.model());
    if (it == models_.end() || unloading_.count(r.model()) ||
        (r.version() != 0 && r.version() != it->second->info().version())) {
      ReplyError(r, NotFound("this worker does not serve " + r.model() +
                             (r.version() ? " version " + std::to_string(r.version()) : "")));
      return;
    }
    if (r.has_sequence()) {
      std::vector<Chunk>& queue = chunks_[r.model()];
      queue.push_back(Chunk{std::move(r), Clock::now()});
      return;
    }
    const auto start = Clock::now();
    Result<at::Tensor> input = it->second->Prepare(r);
    if (!input.ok()) {
      ReplyError(r, input.status());
      return;
    }
    std::deque<Pending>& queue = queues_[r.model()];
    queue.push_back(Pending{std::move(r), *input, start, Micros(Clock::now() - start)});
  }

  // The model that serves `name`, or null once `waiting` (Pending or Chunk)
  // have been answered NOT_FOUND: it was unloaded while they waited.
  template <typename Waiting>
  ServedModel* ServedOrRefuse(const std::string& name, const std::vector<Waiting>& waiting) {
    auto found = models_.find(name);
    if (found != models_.end()) return found->second.get();
    for (const Waiting& w : waiting) ReplyError(w.request, NotFound("this worker no longer serves " + name));
    return nullptr;
  }

  // Completes and sends the reply in `m` to `r`, one of a batch of `batch`.
  void SendReply(proto::WorkerMessage& m, const proto::InferRequest& r, const ServedModel& model, const Status& s,
                 int64_t queue_us, int64_t compute_us, size_t batch) {
    proto::InferReply* reply = m.mutable_reply();
    if (!s.ok()) {
      reply->Clear();
      reply->set_error(s.message());
    }
    reply->set_code(StatusCodeName(s.code()));
    reply->set_id(r.id());
    reply->set_model(r.model());
    reply->set_version(model.info().version());
    reply->set_queue_us(queue_us);
    reply->set_compute_us(compute_us);
    reply->set_batch_size(static_cast<int>(batch));
    reply->set_worker(options_.worker_id);
    m.set_token(options_.token);
    if (Status sent = channel_->Send(m); !sent.ok()) spdlog::warn("{}", sent.ToString());
  }

  // Streaming sessions' chunks run as soon as the loop gets to them, all
  // that came meanwhile in one batch (each from another session: the
  // broker sends a session's next chunk only once this one is answered).
  void RunChunks() {
    for (auto& [name, queue] : chunks_) {
      if (queue.empty()) continue;
      std::vector<Chunk> batch;
      batch.swap(queue);
      ServedModel* model = ServedOrRefuse(name, batch);
      if (!model) continue;
      const auto start = Clock::now();
      std::vector<proto::WorkerMessage> messages(batch.size());
      std::vector<const proto::InferRequest*> requests;
      std::vector<proto::InferReply*> replies;
      for (size_t i = 0; i < batch.size(); ++i) {
        requests.push_back(&batch[i].request);
        replies.push_back(messages[i].mutable_reply());
      }
      const std::vector<Status> status = model->StreamChunks(requests, replies);
      const int64_t compute = Micros(Clock::now() - start);
      for (size_t i = 0; i < batch.size(); ++i)
        SendReply(messages[i], batch[i].request, *model, status[i], Micros(start - batch[i].received), compute,
                  batch.size());
    }
  }

  void RunBatch(const std::string& name, int take) {
    auto& queue = queues_[name];
    std::vector<Pending> batch(std::make_move_iterator(queue.begin()),
                               std::make_move_iterator(queue.begin() + take));
    queue.erase(queue.begin(), queue.begin() + take);
    ServedModel* model = ServedOrRefuse(name, batch);
    if (!model) return;
    const auto start = Clock::now();
    std::vector<at::Tensor> inputs;
    std::vector<const proto::InferRequest*> requests;
    std::vector<proto::WorkerMessage> messages(batch.size());
    std::vector<proto::InferReply*> replies;
    for (size_t i = 0; i < batch.size(); ++i) {
      inputs.push_back(batch[i].input);
      requests.push_back(&batch[i].request);
      replies.push_back(messages[i].mutable_reply());
    }
    const Status s = model->Predict(inputs, requests, replies);
    const int64_t compute = Micros(Clock::now() - start);
    for (size_t i = 0; i < batch.size(); ++i)
      SendReply(messages[i], batch[i].request, *model, s, Micros(start - batch[i].received) - batch[i].prepare_us,
                compute + batch[i].prepare_us, batch.size());
  }

  ServeOptions options_;
  std::map<std::string, std::unique_ptr<ServedModel>> models_;
  std::map<std::string, std::string> sources_;  // model name -> the folder it was loaded from
  std::set<std::string> unloading_;             // asked to unload; goes once what it accepted is answered
  std::deque<std::string> loads_;               // asked for; the front one is opening
  std::future<Result<Opened>> opening_;
  std::map<std::string, std::deque<Pending>> queues_;
  std::map<std::string, std::vector<Chunk>> chunks_;  // per model
  std::unique_ptr<net::DealerChannel> channel_;
  Clock::time_point last_contact_;  // the broker's last message, ever
  int64_t beats_ = 0;
};

}  // namespace

Result<std::unique_ptr<ServeLoop>> ServeLoop::Create(ServeOptions options) {
  auto loop = std::make_unique<Loop>(std::move(options));
  RETURN_IF_ERROR(loop->Init());
  return std::unique_ptr<ServeLoop>(std::move(loop));
}

}  // namespace chorus::serve
