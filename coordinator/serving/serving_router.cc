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
                                       Time now, const SessionRef* session) {
  if (model.empty()) return InvalidArgument("the request names no model");
  if (!Serves(model, version) && (version != 0 || !expected))
    return NotFound("no worker serves model '" + model + "'" + Pinned(version));
  auto& queue = queues_[model];
  const Session* open = nullptr;
  if (session) {
    auto it = sessions_.find(session->key);
    if (it != sessions_.end() && it->second.model == model) open = &it->second;
    if (session->start) {
      if (open && open->busy)
        return FailedPrecondition("the sequence is open with a chunk still unanswered; wait for its answers, or end "
                                  "it, before starting it again");
      if (!open && static_cast<int>(sessions_.size()) >= options_.max_sessions)
        return ResourceExhausted(std::to_string(options_.max_sessions) + " streaming sessions are open (the limit); " +
                                 "end one (sequence_end) or retry once idle ones expire (after " +
                                 std::to_string(options_.session_idle.count() / 1000) + " s without a chunk)");
    } else {
      if (!open)
        return NotFound("no open streaming session with this sequence_id for model '" + model +
                        "': it never started (send sequence_start first), it ended, or it expired after " +
                        std::to_string(options_.session_idle.count() / 1000) + " s without a chunk");
      if (open->ending) return FailedPrecondition("the session has ended (its sequence_end chunk came); start a new one");
      if (open->busy && static_cast<int>(open->backlog.size()) >= options_.max_session_backlog)
        return ResourceExhausted(std::to_string(options_.max_session_backlog) + " chunks of this session wait " +
                                 "already; send more once they are answered");
    }
  }
  const bool waits_in_session = open && open->busy;
  if (!waits_in_session && static_cast<int>(queue.size()) >= options_.max_queue)
    return ResourceExhausted("the queue of model '" + model + "' is full (" + std::to_string(options_.max_queue) +
                             " waiting); retry later");
  const uint64_t seq = next_seq_++;
  Request& r = requests_[seq];
  r.model = model;
  r.version = version;
  r.received = now;
  r.deadline = now + (timeout_ms > 0 ? std::chrono::milliseconds(timeout_ms) : options_.default_timeout);
  if (!session) {
    queue.push_back(seq);
    return seq;
  }
  r.session = session->key;
  r.end = session->end;
  SessionCounts& counts = session_counts_[model];
  Session& s = sessions_[session->key];
  if (session->start) {
    if (open) ++counts.closed;  // an idle session started again: a new one in its place
    s = Session{};
    s.model = model;
    ++counts.opened;
  }
  s.last_chunk = now;
  s.ending = session->end;
  if (waits_in_session) {
    s.backlog.push_back(seq);
  } else {
    s.busy = seq;
    queue.push_back(seq);
  }
  return seq;
}

void ServingRouter::Answered(uint64_t seq, const Request& r) {
  if (r.session.empty()) return;
  auto it = sessions_.find(r.session);
  if (it == sessions_.end() || it->second.busy != seq) return;  // a chunk failed while waiting in the backlog
  Session& s = it->second;
  s.busy = 0;
  if (r.end) {
    ++session_counts_[s.model].closed;
    sessions_.erase(it);
    return;
  }
  if (!s.backlog.empty()) {
    s.busy = s.backlog.front();
    s.backlog.pop_front();
    queues_[s.model].push_back(s.busy);
  }
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
  std::string state = std::move(*reply.mutable_stream_state());
  reply.clear_stream_state();  // the session's, not the client's
  if (!r->second.answered) {
    if (auto s = sessions_.find(r->second.session); s != sessions_.end() && reply.code() == "OK")
      s->second.state = std::move(state);
    outbox_.answers.push_back({seq, std::move(reply), r->second.attempts, r->second.received});
    Answered(seq, r->second);
  }
  requests_.erase(r);
}

bool ServingRouter::Drain(const std::string& worker) {
  auto it = pool_.find(worker);
  if (it == pool_.end()) return false;
  it->second.draining = true;
  return true;
}

bool ServingRouter::Unserve(const std::string& worker, const std::string& model) {
  auto it = pool_.find(worker);
  return it != pool_.end() && it->second.models.erase(model) > 0;
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
  Answered(seq, r);
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
  // Queued past their deadline: out of their queues first, then failed (a
  // failed chunk lets its session's next one into the queue).
  std::vector<uint64_t> late;
  for (auto& [model, queue] : queues_) {
    for (auto it = queue.begin(); it != queue.end();) {
      if (now < requests_[*it].deadline) {
        ++it;
        continue;
      }
      late.push_back(*it);
      it = queue.erase(it);
    }
  }
  for (auto& [key, session] : sessions_) {
    for (auto it = session.backlog.begin(); it != session.backlog.end();) {
      if (now < requests_[*it].deadline) {
        ++it;
        continue;
      }
      late.push_back(*it);
      it = session.backlog.erase(it);
    }
  }
  for (uint64_t seq : late) {
    Request& r = requests_[seq];
    Fail(seq, r, DeadlineExceeded("no answer within " + std::to_string(Milliseconds(r.deadline - r.received)) +
                                  " ms (waited for a free worker" + (r.session.empty() ? "" : " or the session's earlier chunks") + ")"));
    requests_.erase(seq);
  }
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const Session& s = it->second;
    if (s.busy || !s.backlog.empty() || now - s.last_chunk < options_.session_idle) {
      ++it;
      continue;
    }
    ++session_counts_[s.model].expired;
    outbox_.expired.push_back(s.model);
    it = sessions_.erase(it);
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
      Send send;
      send.seq = *it;
      send.worker = *best_id;
      if (!r.session.empty()) {
        send.chunk = true;
        if (auto s = sessions_.find(r.session); s != sessions_.end()) send.stream_state = s->second.state;
      }
      outbox_.sends.push_back(std::move(send));
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

std::map<std::string, ServingRouter::SessionCounts> ServingRouter::Sessions() const {
  std::map<std::string, SessionCounts> counts = session_counts_;
  for (auto& [model, c] : counts) c.open = 0;
  for (const auto& [key, s] : sessions_) ++counts[s.model].open;
  return counts;
}

}  // namespace chorus::coordinator
