#include "common/net/zmq_channel.h"

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

Status SendProto(zmq::socket_t& socket, const google::protobuf::MessageLite& message, bool delimiter) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) return Internal("cannot serialize " + message.GetTypeName());
  try {
    if (delimiter) socket.send(zmq::message_t(), zmq::send_flags::sndmore);
    if (!socket.send(zmq::buffer(bytes), zmq::send_flags::none)) return Unavailable("send would block");
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("zmq send: ") + e.what());
  }
  return Status::Ok();
}

Status ParseProto(const zmq::message_t& frame, google::protobuf::MessageLite* message) {
  if (!message->ParseFromArray(frame.data(), static_cast<int>(frame.size())))
    return InvalidArgument("malformed " + message->GetTypeName() + " (" + std::to_string(frame.size()) + " bytes)");
  return Status::Ok();
}

Result<std::optional<RoutedMessage>> ReceiveRouted(zmq::socket_t& router) {
  std::vector<zmq::message_t> frames;
  try {
    zmq::message_t frame;
    if (!router.recv(frame, zmq::recv_flags::dontwait)) return std::optional<RoutedMessage>();
    frames.push_back(std::move(frame));
    while (router.get(zmq::sockopt::rcvmore)) {
      zmq::message_t more;
      (void)router.recv(more, zmq::recv_flags::none);
      frames.push_back(std::move(more));
    }
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("zmq recv: ") + e.what());
  }
  // identity, [more routing], empty, payload
  size_t delimiter = 0;
  while (delimiter < frames.size() && frames[delimiter].size() != 0) ++delimiter;
  if (delimiter == 0 || delimiter + 2 != frames.size())
    return InvalidArgument("message without the [route][empty][payload] framing (" + std::to_string(frames.size()) +
                           " frames)");
  RoutedMessage out;
  for (size_t i = 0; i < delimiter; ++i) out.route.push_back(std::move(frames[i]));
  out.payload = std::move(frames.back());
  out.peer_key = PeerKey(out.payload);
  return std::optional<RoutedMessage>(std::move(out));
}

Status ReplyRouted(zmq::socket_t& router, const RoutedMessage& to, const google::protobuf::MessageLite& reply) {
  std::string bytes;
  if (!reply.SerializeToString(&bytes)) return Internal("cannot serialize " + reply.GetTypeName());
  try {
    for (const auto& r : to.route) router.send(zmq::buffer(r.data(), r.size()), zmq::send_flags::sndmore);
    router.send(zmq::message_t(), zmq::send_flags::sndmore);
    router.send(zmq::buffer(bytes), zmq::send_flags::none);
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("zmq reply: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace chorus::net
