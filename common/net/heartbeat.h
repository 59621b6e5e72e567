// Heartbeat: when to beat and when a peer counts as gone, the one liveness
// policy of every ZeroMQ link here (the broker and its workers, a job's rank
// and the coordinator; the ZeroMQ guide's Paranoid Pirate). Pure: time comes
// in as an argument, so tests drive it with a fake clock. Not thread-safe.
//
//  - Due(now): a beat should go out (none sent yet, or `interval` since the
//    last); Sent(now) records it.
//  - Heard(now): any message from the peer counts as a sign of life.
//  - Silent(now): the peer said nothing for `liveness` (never when liveness
//    is 0); SilentFor(now) says for how long.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

namespace chorus::net {

struct HeartbeatOptions {
  std::chrono::milliseconds interval{500};
  std::chrono::milliseconds liveness{0};  // 0: the peer is never judged gone
};

class Heartbeat {
 public:
  using Clock = std::chrono::steady_clock;
  using Time = Clock::time_point;

  Heartbeat(HeartbeatOptions options, Time now) : options_(options), heard_(now) {}

  bool Due(Time now) const { return !sent_ || now - *sent_ >= options_.interval; }
  void Sent(Time now) { sent_ = now; }
  // How long until the next beat is due (zero when it is).
  Clock::duration UntilDue(Time now) const {
    if (!sent_) return Clock::duration::zero();
    return std::max(Clock::duration::zero(), *sent_ + options_.interval - now);
  }

  void Heard(Time now) { heard_ = std::max(heard_, now); }
  Clock::duration SilentFor(Time now) const { return now - heard_; }
  bool Silent(Time now) const { return options_.liveness.count() > 0 && now - heard_ > options_.liveness; }

  const HeartbeatOptions& options() const { return options_; }

 private:
  HeartbeatOptions options_;
  Time heard_;
  std::optional<Time> sent_;
};

}  // namespace chorus::net
