#include "common/net/dealer_channel.h"

#include <spdlog/spdlog.h>

#include "common/net/endpoints.h"

namespace chorus::net {

DealerChannel::DealerChannel(DealerOptions options)
    : options_(std::move(options)), heartbeat_(options_.heartbeat, Clock::now()) {
  Connect();
}

void DealerChannel::Connect() {
  socket_ = std::make_unique<zmq::socket_t>(SharedContext(), zmq::socket_type::dealer);
  socket_->set(zmq::sockopt::linger, static_cast<int>(options_.linger.count()));
  socket_->set(zmq::sockopt::maxmsgsize, kMaxMessageBytes);
  // With no peer connected a DEALER's send blocks forever; the owner must
  // keep beating, working and noticing the silence instead.
  socket_->set(zmq::sockopt::sndtimeo, static_cast<int>(options_.send_timeout.count()));
  if (options_.send_high_water_mark > 0) socket_->set(zmq::sockopt::sndhwm, options_.send_high_water_mark);
  if (!options_.routing_id.empty()) socket_->set(zmq::sockopt::routing_id, options_.routing_id);
  if (Status s = MakeCurveClient(*socket_, options_.curve); !s.ok()) spdlog::error("{}", s.ToString());
  const std::vector<std::string> endpoints = SplitEndpoints(options_.endpoint);
  // Several peers (an active/standby pair): messages go only to one that is
  // connected, never queue for one that is not there.
  if (endpoints.size() > 1) socket_->set(zmq::sockopt::immediate, true);
  for (const auto& e : endpoints) socket_->connect(e);
}

Status DealerChannel::Send(const google::protobuf::MessageLite& header, zmq::message_t* payload) {
  return SendProto(*socket_, header, /*delimiter=*/true, payload);
}

Result<std::optional<DealtMessage>> DealerChannel::Receive() {
  auto message = ReceiveDealt(*socket_);
  // A message, even a malformed one, is a sign of life; a failing socket is not.
  const bool heard = message.ok() ? message->has_value() : message.status().code() == StatusCode::kInvalidArgument;
  if (heard) heartbeat_.Heard(Clock::now());
  return message;
}

DealerChannel::Event DealerChannel::Poll(Clock::time_point now) {
  if (heartbeat_.Silent(now)) {
    spdlog::warn("{} silent for {} ms; reconnecting", options_.endpoint,
                 std::chrono::duration_cast<std::chrono::milliseconds>(heartbeat_.SilentFor(now)).count());
    Connect();
    heartbeat_ = Heartbeat(options_.heartbeat, now);
    heartbeat_.Sent(now);  // the greeting the owner sends now stands for a beat
    return Event::kReconnected;
  }
  if (heartbeat_.Due(now)) {
    heartbeat_.Sent(now);
    return Event::kBeat;
  }
  return Event::kNone;
}

}  // namespace chorus::net
