#include "common/net/rpc_client.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "common/net/endpoints.h"
#include "common/net/zmq_channel.h"

namespace chorus::net {

RpcClient::RpcClient(RpcClientOptions options)
    : options_(std::move(options)), endpoints_(SplitEndpoints(options_.endpoint)) {}

RpcClient::~RpcClient() { Drop(); }

RpcClient& RpcClient::operator=(RpcClient&& other) {
  if (this == &other) return *this;
  Drop();
  options_ = std::move(other.options_);
  endpoints_ = std::move(other.endpoints_);
  socket_ = std::move(other.socket_);
  monitor_ = std::move(other.monitor_);
  return *this;
}

void RpcClient::Drop() {
  if (socket_ && monitor_) (void)zmq_socket_monitor(static_cast<void*>(*socket_), nullptr, 0);
  socket_.reset();
  monitor_.reset();
}

Status RpcClient::Connect() {
  Drop();
  socket_ = std::make_unique<zmq::socket_t>(SharedContext(), zmq::socket_type::req);
  socket_->set(zmq::sockopt::linger, 0);
  if (Status s = MakeCurveClient(*socket_, options_.curve); !s.ok()) {
    Drop();
    return s;
  }
  if (endpoints_.size() > 1) {
    // Only to a peer that is there, never queued for one that is not.
    socket_->set(zmq::sockopt::immediate, true);
    static std::atomic<uint64_t> next{0};
    const std::string address = "inproc://rpc-client-monitor-" + std::to_string(next++);
    if (zmq_socket_monitor(static_cast<void*>(*socket_), address.c_str(), ZMQ_EVENT_DISCONNECTED) != 0) {
      Drop();
      return Internal("cannot monitor the client socket: " + std::string(zmq_strerror(zmq_errno())));
    }
    monitor_ = std::make_unique<zmq::socket_t>(SharedContext(), zmq::socket_type::pair);
    monitor_->set(zmq::sockopt::linger, 0);
    monitor_->connect(address);
  }
  for (const auto& e : endpoints_) socket_->connect(e);
  return Status::Ok();
}

bool RpcClient::PeerLeft() {
  bool left = false;
  zmq::message_t frame;
  while (monitor_ && monitor_->recv(frame, zmq::recv_flags::dontwait)) left = true;  // event, address: both count
  return left;
}

Status RpcClient::Call(const google::protobuf::MessageLite& request, google::protobuf::MessageLite* reply,
                       const std::string* payload) {
  std::string bytes;
  if (!request.SerializeToString(&bytes)) return Internal("cannot serialize " + request.GetTypeName());
  return CallSerialized(bytes, reply, payload);
}

Status RpcClient::CallSerialized(const std::string& request, google::protobuf::MessageLite* reply,
                                 const std::string* payload) {
  try {
    const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
    const auto Remaining = [&] {
      return std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                        deadline - std::chrono::steady_clock::now()));
    };
    const auto Lost = [&] {
      Drop();  // a REQ socket that lost its reply cannot send again
      return Unavailable("no answer from " + options_.endpoint + " within " +
                         std::to_string(options_.timeout.count()) + " ms");
    };
    bool answered = false;
    while (!answered) {
      // A peer gone (since the last call, or with this request): a fresh
      // socket, for the old one may still hold the gone peer's pipe and put
      // the request there; it waits for whichever peer is there.
      if (!socket_ || PeerLeft()) RETURN_IF_ERROR(Connect());
      // With several endpoints a send waits for a peer to be there, at most until the deadline.
      if (monitor_) socket_->set(zmq::sockopt::sndtimeo, static_cast<int>(std::max<int64_t>(1, Remaining().count())));
      if (!socket_->send(zmq::buffer(request), payload ? zmq::send_flags::sndmore : zmq::send_flags::none) ||
          (payload && !socket_->send(zmq::buffer(*payload), zmq::send_flags::none))) {
        if (monitor_) return Lost();
        return Unavailable("send would block");
      }
      while (true) {
        zmq::pollitem_t items[2] = {{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0},
                                    {monitor_ ? static_cast<void*>(*monitor_) : nullptr, 0, ZMQ_POLLIN, 0}};
        zmq::poll(items, monitor_ ? 2 : 1, Remaining());
        if (items[0].revents & ZMQ_POLLIN) {
          answered = true;
          break;
        }
        if (monitor_ && (items[1].revents & ZMQ_POLLIN)) {  // the peer went: send it again, on a fresh socket
          Drop();
          break;
        }
        if (Remaining().count() == 0) return Lost();
      }
    }
    zmq::message_t frame;
    (void)socket_->recv(frame, zmq::recv_flags::none);
    while (socket_->get(zmq::sockopt::rcvmore)) {  // a reply is one frame: read the rest away
      zmq::message_t more;
      (void)socket_->recv(more, zmq::recv_flags::none);
    }
    return ParseProto(frame, reply);
  } catch (const zmq::error_t& e) {
    Drop();
    return Unavailable(options_.endpoint + ": " + e.what());
  }
}

}  // namespace chorus::net
