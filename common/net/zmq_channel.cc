#include "common/net/zmq_channel.h"

#include <algorithm>

namespace chorus::net {

zmq::context_t& SharedContext() {
  static zmq::context_t* context = new zmq::context_t(1);  // never destroyed: sockets may outlive statics
  return *context;
}

std::string AdvertisedHost(const std::string& host, const std::string& advertise) {
  const bool wildcard = host == "0.0.0.0" || host == "*" || host == "::" || host == "[::]";
  if (!wildcard) return host;
  return advertise.empty() ? "127.0.0.1" : advertise;
}

bool IsLoopbackEndpoint(const std::string& endpoint) {
  if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
  if (endpoint.rfind("tcp://", 0) != 0) return false;
  const std::string address = endpoint.substr(6);
  const std::string host = address.substr(0, address.rfind(':'));  // npos: all of it
  return host.rfind("127.", 0) == 0 || host == "localhost" || host == "lo" || host == "[::1]";
}

Result<std::unique_ptr<zmq::socket_t>> BindRouter(const std::string& listen, std::string* endpoint,
                                                  const RouterOptions& options) {
  const int high_water_mark = options.high_water_mark;
  std::string address = listen;
  if (address.size() > 2 && address.compare(address.size() - 2, 2, ":0") == 0)
    address = address.substr(0, address.size() - 1) + "*";  // ZeroMQ's "any free port"
  auto socket = std::make_unique<zmq::socket_t>(SharedContext(), zmq::socket_type::router);
  try {
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::maxmsgsize, kMaxMessageBytes);
    // A peer that reconnects under its routing id (a worker after a silence)
    // takes it over at once, instead of being refused while the old
    // connection is still being torn down.
    socket->set(zmq::sockopt::router_handover, 1);
    if (high_water_mark > 0) {
      socket->set(zmq::sockopt::sndhwm, high_water_mark);
      socket->set(zmq::sockopt::rcvhwm, high_water_mark);
    }
    if (!options.curve.empty()) RETURN_IF_ERROR(MakeCurveServer(*socket, options.curve, options.zap_domain));
    socket->bind(address);
  } catch (const zmq::error_t& e) {
    return Unavailable("cannot listen on " + listen + ": " + e.what() +
                       (e.num() == EADDRINUSE ? " (is another process using it?)" : ""));
  }
  *endpoint = socket->get(zmq::sockopt::last_endpoint);
  if (endpoint->rfind("tcp://0.0.0.0:", 0) == 0)
    *endpoint = "tcp://" + AdvertisedHost("0.0.0.0", options.advertise) + ":" + endpoint->substr(14);
  return socket;
}

namespace {

// Sends [route...][empty] when asked, then the header and the payload.
Status SendFrames(zmq::socket_t& socket, const std::vector<zmq::const_buffer>& route, bool delimiter,
                  const google::protobuf::MessageLite& message, zmq::message_t* payload) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) return Internal("cannot serialize " + message.GetTypeName());
  try {
    for (const auto& frame : route) socket.send(frame, zmq::send_flags::sndmore);
    if (delimiter) socket.send(zmq::message_t(), zmq::send_flags::sndmore);
    const auto last = payload ? zmq::send_flags::sndmore : zmq::send_flags::none;
    if (!socket.send(zmq::buffer(bytes), last)) return Unavailable("send would block");
    if (payload && !socket.send(*payload, zmq::send_flags::none)) return Unavailable("send would block");
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("zmq send: ") + e.what());
  }
  return Status::Ok();
}

// Every frame of the message waiting on `socket` (empty when none waits).
Result<std::vector<zmq::message_t>> ReceiveFrames(zmq::socket_t& socket) {
  std::vector<zmq::message_t> frames;
  try {
    zmq::message_t frame;
    if (!socket.recv(frame, zmq::recv_flags::dontwait)) return frames;
    frames.push_back(std::move(frame));
    while (socket.get(zmq::sockopt::rcvmore)) {
      zmq::message_t more;
      (void)socket.recv(more, zmq::recv_flags::none);
      frames.push_back(std::move(more));
    }
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("zmq recv: ") + e.what());
  }
  return frames;
}

}  // namespace

Status SendProto(zmq::socket_t& socket, const google::protobuf::MessageLite& message, bool delimiter,
                 zmq::message_t* payload) {
  return SendFrames(socket, {}, delimiter, message, payload);
}

Status ParseProto(const zmq::message_t& frame, google::protobuf::MessageLite* message) {
  if (!message->ParseFromArray(frame.data(), static_cast<int>(frame.size())))
    return InvalidArgument("malformed " + message->GetTypeName() + " (" + std::to_string(frame.size()) + " bytes)");
  return Status::Ok();
}

Result<std::optional<RoutedMessage>> ReceiveRouted(zmq::socket_t& router) {
  ASSIGN_OR_RETURN(std::vector<zmq::message_t> frames, ReceiveFrames(router));
  if (frames.empty()) return std::optional<RoutedMessage>();
  // identity, [more routing], empty, header, [payload]
  size_t delimiter = 0;
  while (delimiter < frames.size() && frames[delimiter].size() != 0) ++delimiter;
  const size_t after = frames.size() - std::min(frames.size(), delimiter + 1);
  if (delimiter == 0 || after < 1 || after > 2)
    return InvalidArgument("message without the [route][empty][header][payload] framing (" +
                           std::to_string(frames.size()) + " frames)");
  RoutedMessage out;
  for (size_t i = 0; i < delimiter; ++i) out.route.push_back(std::move(frames[i]));
  out.header = std::move(frames[delimiter + 1]);
  if (after == 2) out.payload = std::move(frames[delimiter + 2]);
  out.peer_key = PeerKey(out.header);
  return std::optional<RoutedMessage>(std::move(out));
}

Status ReplyRouted(zmq::socket_t& router, const RoutedMessage& to, const google::protobuf::MessageLite& reply,
                   zmq::message_t* payload) {
  std::vector<zmq::const_buffer> route;
  for (const auto& r : to.route) route.push_back(zmq::buffer(r.data(), r.size()));
  return SendFrames(router, route, true, reply, payload);
}

Status SendRouted(zmq::socket_t& router, const std::vector<std::string>& route,
                  const google::protobuf::MessageLite& message, zmq::message_t* payload) {
  std::vector<zmq::const_buffer> frames;
  for (const auto& r : route) frames.push_back(zmq::buffer(r));
  return SendFrames(router, frames, true, message, payload);
}

Result<std::optional<DealtMessage>> ReceiveDealt(zmq::socket_t& dealer) {
  ASSIGN_OR_RETURN(std::vector<zmq::message_t> frames, ReceiveFrames(dealer));
  if (frames.empty()) return std::optional<DealtMessage>();
  if (frames.size() < 2 || frames.size() > 3 || frames[0].size() != 0)
    return InvalidArgument("message without the [empty][header][payload] framing (" +
                           std::to_string(frames.size()) + " frames)");
  DealtMessage out;
  out.header = std::move(frames[1]);
  if (frames.size() == 3) out.payload = std::move(frames[2]);
  return std::optional<DealtMessage>(std::move(out));
}

}  // namespace chorus::net
