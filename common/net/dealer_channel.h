// DealerChannel: the client end of a control-plane link, used alike by a
// serving worker (to the broker) and a job's rank 0 (to the coordinator). A
// DEALER socket with the project's framing (zmq_channel.h: a protobuf header
// and an optional payload frame), a maximum message size, CURVE when asked,
// sends that never block the caller (a message that cannot leave within
// `send_timeout` is dropped and reported), and the Heartbeat policy:
//
//  - Poll() says what the owner must do now: send its heartbeat (kBeat), or
//    greet the peer again because the channel reconnected after the peer was
//    silent for the liveness window (kReconnected: a fresh socket, so nothing
//    stale of the old one is delivered), or nothing.
//  - Every message received counts as a sign of life; the owner's heartbeat
//    message is its own (the channel knows no message types).
// Not thread-safe: one thread at a time (the owner locks when it shares it).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <google/protobuf/message_lite.h>
#include <zmq.hpp>

#include "common/net/curve.h"
#include "common/net/heartbeat.h"
#include "common/net/zmq_channel.h"
#include "common/util/status.h"

namespace chorus::net {

struct DealerOptions {
  // The peer's ROUTER; a list (endpoints.h) for an active/standby pair:
  // connected to each, messages go only to the one that is there.
  std::string endpoint;
  std::string routing_id;  // "" : ZeroMQ picks one
  CurveClient curve;       // enabled: the peer is a CURVE server with this key
  HeartbeatOptions heartbeat;  // liveness 0: never reconnect
  std::chrono::milliseconds send_timeout{200};
  int send_high_water_mark = 0;  // 0: ZeroMQ's default
  std::chrono::milliseconds linger{1000};  // how long unsent messages may hold a closing socket
};

class DealerChannel {
 public:
  using Clock = Heartbeat::Clock;
  enum class Event { kNone, kBeat, kReconnected };

  explicit DealerChannel(DealerOptions options);

  // Header, then `payload` when given (moved).
  Status Send(const google::protobuf::MessageLite& header, zmq::message_t* payload = nullptr);
  // One message if one waits (std::nullopt otherwise); malformed framing is
  // an InvalidArgument (the frames are consumed). Anything received counts
  // as a sign of life.
  Result<std::optional<DealtMessage>> Receive();

  // What is due at `now`; the caller sends its beat (kBeat: recorded as
  // sent) or its greeting (kReconnected).
  Event Poll(Clock::time_point now);
  // How long the owner may wait before the next Poll matters.
  Clock::duration UntilDue(Clock::time_point now) const { return heartbeat_.UntilDue(now); }
  Clock::duration SilentFor(Clock::time_point now) const { return heartbeat_.SilentFor(now); }

  zmq::socket_t& socket() { return *socket_; }
  const DealerOptions& options() const { return options_; }

 private:
  void Connect();

  DealerOptions options_;
  Heartbeat heartbeat_;
  std::unique_ptr<zmq::socket_t> socket_;
};

}  // namespace chorus::net
