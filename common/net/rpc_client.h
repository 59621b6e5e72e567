// RpcClient: one protobuf request, one protobuf reply, over a ZeroMQ REQ
// socket, with a deadline. When no reply arrives in time the socket is thrown
// away and re-created on the next call (the ZeroMQ guide's "lazy pirate"), so
// a late reply is never mistaken for the answer to a later request.
//
// An endpoint list (endpoints.h: both coordinators of an active/standby pair)
// makes it fail over by itself: the socket is connected to every endpoint
// and a request goes only to a peer that is there; when the peer holding a
// request goes away (a socket monitor reports the disconnect) the request is
// sent again, on a fresh socket, to whichever peer is there next, within the
// same deadline. The monitor does not say which peer left, so any peer's
// disconnect sends the request again. Requests sent to a list must therefore
// be safe to repeat (inference, queries; a submit carries its client request
// id).
// Not thread-safe: one client per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <google/protobuf/message_lite.h>
#include <zmq.hpp>

#include "common/net/curve.h"
#include "common/util/status.h"

namespace chorus::net {

struct RpcClientOptions {
  std::string endpoint;                     // e.g. tcp://127.0.0.1:7450, or a list
  std::chrono::milliseconds timeout{5000};  // per call
  CurveClient curve;                        // enabled: the server is a CURVE server with this key
};

class RpcClient {
 public:
  explicit RpcClient(RpcClientOptions options);
  ~RpcClient();
  RpcClient(RpcClient&&) = default;
  RpcClient& operator=(RpcClient&& other);

  // Unavailable when nothing answers within the timeout; InvalidArgument when
  // the answer does not parse as `reply`. `payload`, when given, goes as a
  // frame of its own after the request (zmq_channel.h).
  Status Call(const google::protobuf::MessageLite& request, google::protobuf::MessageLite* reply,
              const std::string* payload = nullptr);
  // The same with a request serialized once by the caller (load generators
  // send one request many times).
  Status CallSerialized(const std::string& request, google::protobuf::MessageLite* reply,
                        const std::string* payload = nullptr);

  const std::string& endpoint() const { return options_.endpoint; }
  bool curve_enabled() const { return options_.curve.enabled(); }

 private:
  Status Connect();
  // Closes the socket and its monitor, stopping the monitor first: libzmq
  // sends monitor events from its I/O thread with a blocking send, so a
  // socket that reports (a disconnect) after its monitor's reader is gone
  // would stall that thread, and every ZeroMQ socket of the process with it.
  void Drop();
  // Whether the monitor reported a peer gone since the last call (drains it).
  bool PeerLeft();

  RpcClientOptions options_;
  std::vector<std::string> endpoints_;
  std::unique_ptr<zmq::socket_t> socket_;
  std::unique_ptr<zmq::socket_t> monitor_;  // with several endpoints: disconnect events
};

}  // namespace chorus::net
