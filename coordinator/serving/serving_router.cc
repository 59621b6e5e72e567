#include "coordinator/serving/serving_router.h"

#include <algorithm>
#include <utility>

namespace chorus::coordinator {

namespace {

int64_t Milliseconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::string Pinned(int64_t version) { return version ? " version " + std::to_string(version) : ""; }

}  // namespace

ServingRouter::ServingRouter(RouterOptions options) : options_(std::move(options)) {}

bool ServingRouter::Takes(const WorkerState& w, const std::string& model, int64_t version) {
  auto m = w.models.find(model);
  return !w.draining && m != w.models.end() && (version == 0 || m->second == version);
}

bool ServingRouter::Serves(const std::string& model, int64_t version) const {
  for (const auto& [id, w] : pool_)
    if (version == 0 ? w.models.count(model) > 0 : Takes(w, model, version)) return true;
  return false;
}

Result<uint64_t> ServingRouter::Submit(const std::string& model, int64_t version, int64_t timeout_ms, bool expected,
                                       Time now) {
  if (model.empty()) return InvalidArgument("the request names no model");
  if (!Serves(model, version) && (version != 0 || !expected))
    return NotFound("no worker serves model '" + model + "'" + Pinned(version));
  auto& queue = queues_[model];
  if (static_cast<int>(queue.size()) >= options_.max_queue)
    return ResourceExhausted("the queue of model '" + model + "' is full (" + std::to_string(options_.max_queue) +
                             " waiting); retry later");
  const uint64_t seq = next_seq_++;
  Request& r = requests_[seq];
  r.model = model;
  r.version = version;
  r.received = now;
  r.deadline = now + (timeout_ms > 0 ? std::chrono::milliseconds(timeout_ms) : options_.default_timeout);
  queue.push_back(seq);
  return seq;
}

void ServingRouter::Hello(const std::string& worker, std::map<std::string, int64_t> models, int capacity, int pid,
                          Time now) {
  WorkerState& w = pool_[worker];
  w.models = std::move(models);
  w.capacity = std::max(1, capacity);
  w.pid = pid;
  w.last_seen = now;
}

bool ServingRouter::Heard(const std::string& worker, Time now) {
  auto it = pool_.find(worker);
  if (it == pool_.end()) return false;
  it->second.last_seen = now;
  return true;
}

void ServingRouter::Reply(const std::string& worker, uint64_t seq, proto::InferReply reply) {
  auto r = requests_.find(seq);
  if (r == requests_.end() || r->second.worker != worker) return;  // late, or from an earlier attempt
  auto w = pool_.find(worker);
  if (w != pool_.end()) --w->second.ongoing;
  if (!r->second.answered) outbox_.answers.push_back({seq, std::move(reply), r->second.attempts, r->second.received});
  requests_.erase(r);
}

bool ServingRouter::Drain(const std::string& worker) {
  auto it = pool_.find(worker);
  if (it == pool_.end()) return false;
  it->second.draining = true;
  return true;
}

proto::InferReply ServingRouter::ErrorReply(const Status& s) {
  proto::InferReply reply;
  reply.set_code(StatusCodeName(s.code()));
  reply.set_error(s.message());
  return reply;
}

void ServingRouter::Fail(uint64_t seq, Request& r, const Status& s) {
  outbox_.answers.push_back({seq, ErrorReply(s), r.attempts, r.received});
  r.answered = true;
}

void ServingRouter::Remove(const std::string& worker, const std::string& why) {
  if (pool_.erase(worker) == 0) return;
  std::vector<uint64_t> orphans;
  for (auto& [seq, r] : requests_)
    if (r.worker == worker) orphans.push_back(seq);
  // Back to the front of their queues, oldest first.
  for (auto it = orphans.rbegin(); it != orphans.rend(); ++it) {
    Request& r = requests_[*it];
    r.worker.clear();
    if (r.answered) {
      requests_.erase(*it);
    } else if (r.attempts >= options_.max_attempts) {
      Fail(*it, r, Unavailable("worker " + worker + " " + why + " while answering; gave up after " +
                              std::to_string(r.attempts) + " attempts"));
      requests_.erase(*it);
    } else {
      queues_[r.model].push_front(*it);
    }
  }
}

void ServingRouter::Tick(Time now) {
  std::vector<std::string> silent;
  for (const auto& [id, w] : pool_)
    if (now - w.last_seen > options_.worker_liveness) silent.push_back(id);
  for (const auto& id : silent) {
    const auto quiet = std::chrono::duration_cast<std::chrono::milliseconds>(now - pool_[id].last_seen);
    outbox_.dropped.push_back({id, quiet});
    Remove(id, "was lost (silent for " + std::to_string(quiet.count()) + " ms)");
  }
  for (auto& [model, queue] : queues_) {
    for (auto it = queue.begin(); it != queue.end();) {
      Request& r = requests_[*it];
      if (now < r.deadline) {
        ++it;
        continue;
      }
      Fail(*it, r, DeadlineExceeded("no answer within " + std::to_string(Milliseconds(r.deadline - r.received)) +
                                    " ms (waited for a free worker)"));
      requests_.erase(*it);
      it = queue.erase(it);
    }
  }
  for (auto& [seq, r] : requests_)
    if (!r.answered && !r.worker.empty() && now >= r.deadline)
      Fail(seq, r, DeadlineExceeded("no answer within the deadline from worker " + r.worker));
}

void ServingRouter::Dispatch() {
  for (auto& [model, queue] : queues_) {
    for (auto it = queue.begin(); it != queue.end();) {
      Request& r = requests_[*it];
      WorkerState* best = nullptr;
      const std::string* best_id = nullptr;
      // Every worker once, starting after the last chosen: the first of the
      // least busy in that order wins.
      const std::string& wanted = model;  // (C++17 lambdas cannot capture a structured binding)
      auto consider = [&](std::map<std::string, WorkerState>::iterator at,
                          std::map<std::string, WorkerState>::iterator end) {
        for (; at != end; ++at) {
          auto& [id, w] = *at;
          if (Takes(w, wanted, r.version) && w.ongoing < w.capacity && (!best || w.ongoing < best->ongoing))
            best = &w, best_id = &id;
        }
      };
      const auto start = pool_.upper_bound(last_pick_);
      consider(start, pool_.end());
      consider(pool_.begin(), start);
      if (!best) {
        if (r.version == 0) break;  // nothing free for anyone
        ++it;
        continue;
      }
      r.worker = last_pick_ = *best_id;
      ++r.attempts;
      ++best->ongoing;
      outbox_.sends.push_back({*it, *best_id});
      it = queue.erase(it);
    }
  }
}

ServingRouter::Outbox ServingRouter::TakeOutbox() { return std::exchange(outbox_, Outbox{}); }

std::map<std::string, int> ServingRouter::Queued() const {
  std::map<std::string, int> queued;
  for (const auto& [model, q] : queues_) queued[model] = static_cast<int>(q.size());
  return queued;
}

std::map<std::string, int> ServingRouter::Ongoing() const {
  std::map<std::string, int> ongoing;
  for (const auto& [seq, r] : requests_)
    if (!r.answered) ++ongoing[r.model];
  return ongoing;
}

}  // namespace chorus::coordinator
