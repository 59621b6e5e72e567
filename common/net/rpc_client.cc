#include "common/net/rpc_client.h"

#include "common/net/zmq_channel.h"

namespace chorus::net {

RpcClient::RpcClient(RpcClientOptions options) : options_(std::move(options)) {}

Status RpcClient::Call(const google::protobuf::MessageLite& request, google::protobuf::MessageLite* reply,
                       const std::string* payload) {
  std::string bytes;
  if (!request.SerializeToString(&bytes)) return Internal("cannot serialize " + request.GetTypeName());
  return CallSerialized(bytes, reply, payload);
}

Status RpcClient::CallSerialized(const std::string& request, google::protobuf::MessageLite* reply,
                                 const std::string* payload) {
  try {
    if (!socket_) {
      socket_ = std::make_unique<zmq::socket_t>(SharedContext(), zmq::socket_type::req);
      socket_->set(zmq::sockopt::linger, 0);
      if (Status s = MakeCurveClient(*socket_, options_.curve); !s.ok()) {
        socket_.reset();
        return s;
      }
      socket_->connect(options_.endpoint);
    }
    if (!socket_->send(zmq::buffer(request), payload ? zmq::send_flags::sndmore : zmq::send_flags::none) ||
        (payload && !socket_->send(zmq::buffer(*payload), zmq::send_flags::none)))
      return Unavailable("send would block");
    zmq::pollitem_t item{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, options_.timeout);
    if (!(item.revents & ZMQ_POLLIN)) {
      socket_.reset();  // a REQ socket that lost its reply cannot send again
      return Unavailable("no answer from " + options_.endpoint + " within " +
                         std::to_string(options_.timeout.count()) + " ms");
    }
    zmq::message_t frame;
    (void)socket_->recv(frame, zmq::recv_flags::none);
    while (socket_->get(zmq::sockopt::rcvmore)) {  // a reply is one frame: read the rest away
      zmq::message_t more;
      (void)socket_->recv(more, zmq::recv_flags::none);
    }
    return ParseProto(frame, reply);
  } catch (const zmq::error_t& e) {
    socket_.reset();
    return Unavailable(options_.endpoint + ": " + e.what());
  }
}

}  // namespace chorus::net
