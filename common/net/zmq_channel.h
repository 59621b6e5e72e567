// Framing of protobuf messages on ZeroMQ sockets, shared by every
// control-plane endpoint (coordinator, CLI, workers).
//
// On the wire a message is [routing frames...] [empty delimiter] [header]
// [payload, optional]: the header a protobuf message, the payload the bulk
// bytes it describes (a request's audio), sent and forwarded as a ZeroMQ
// frame of its own so no one re-encodes it and a forwarder shares its buffer
// instead of copying it. REQ sockets add the delimiter themselves; DEALER
// senders call SendProto with `delimiter = true` so a ROUTER peer always sees
// the same shape.
// Not thread-safe: ZeroMQ sockets belong to one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/message_lite.h>
#include <zmq.hpp>

#include "common/net/curve.h"
#include "common/util/status.h"

namespace chorus::net {

// The largest message a socket here accepts from a peer. ZeroMQ drops a peer
// that announces a bigger frame before reading it, so no one can make a
// process buffer gigabytes. Half an hour of 16 kHz 16-bit audio is 58 MB.
inline constexpr int64_t kMaxMessageBytes = int64_t{64} << 20;

// One process-wide context (ZeroMQ contexts are thread-safe).
zmq::context_t& SharedContext();

struct RouterOptions {
  int high_water_mark = 0;  // 0: ZeroMQ's default
  std::string advertise;    // the host in *endpoint for a wildcard address ("": 127.0.0.1)
  CurveKeys curve;          // not empty: a CURVE server with these keys ...
  std::string zap_domain;   // ... whose clients the ZapHandler judges under this domain
};

// A ROUTER socket bound to `listen`: tcp://ADDRESS:PORT, or an interface's
// name in place of the address (tcp://eth0:PORT; ZeroMQ binds its address).
// A tcp port of 0 picks a free port; *endpoint receives the address peers
// connect to (the real port and address; options.advertise for a wildcard
// host such as 0.0.0.0). Messages over kMaxMessageBytes are refused (the
// sender is disconnected). A peer that connects again under the routing id
// of a live connection takes it over (ZMQ_ROUTER_HANDOVER).
Result<std::unique_ptr<zmq::socket_t>> BindRouter(const std::string& listen, std::string* endpoint,
                                                  const RouterOptions& options = {});

// Whether a ZeroMQ endpoint stays on this host (ipc://, inproc://, tcp:// on
// 127.0.0.0/8, localhost or lo).
bool IsLoopbackEndpoint(const std::string& endpoint);

// The host peers should use for a server bound to `host`: `advertise` (else
// 127.0.0.1) when `host` is a wildcard (0.0.0.0, *, ::, [::]), else `host`.
std::string AdvertisedHost(const std::string& host, const std::string& advertise);

// Sends `message` as the header, then `payload` when given (moved into the
// socket: ZeroMQ shares its buffer; send a copy() to keep it).
Status SendProto(zmq::socket_t& socket, const google::protobuf::MessageLite& message, bool delimiter = false,
                 zmq::message_t* payload = nullptr);
Status ParseProto(const zmq::message_t& frame, google::protobuf::MessageLite* message);

// A message read from a ROUTER socket: who sent it, and what.
struct RoutedMessage {
  std::vector<zmq::message_t> route;      // routing frames, up to and excluding the delimiter
  zmq::message_t header;                  // a protobuf message
  std::optional<zmq::message_t> payload;  // the frame after it, if any
  std::string peer_key;                   // the sender's CURVE public key ("" : not a CURVE socket)
};

// Reads one message if one is waiting (std::nullopt otherwise). Malformed
// framing is an InvalidArgument; the frames are consumed either way.
Result<std::optional<RoutedMessage>> ReceiveRouted(zmq::socket_t& router);
// Sends `reply` (and `payload`, as SendProto) back along `to`'s route.
Status ReplyRouted(zmq::socket_t& router, const RoutedMessage& to, const google::protobuf::MessageLite& reply,
                   zmq::message_t* payload = nullptr);
// The same along a route kept as strings.
Status SendRouted(zmq::socket_t& router, const std::vector<std::string>& route,
                  const google::protobuf::MessageLite& message, zmq::message_t* payload = nullptr);

// A message read from a DEALER socket: [empty delimiter] [header] [payload].
struct DealtMessage {
  zmq::message_t header;
  std::optional<zmq::message_t> payload;
};
// Reads one message if one is waiting (std::nullopt otherwise); frames in
// another shape are consumed and reported as an InvalidArgument.
Result<std::optional<DealtMessage>> ReceiveDealt(zmq::socket_t& dealer);

}  // namespace chorus::net
