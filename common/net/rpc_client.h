// RpcClient: one protobuf request, one protobuf reply, over a ZeroMQ REQ
// socket, with a deadline. When no reply arrives in time the socket is thrown
// away and re-created on the next call (the ZeroMQ guide's "lazy pirate"), so
// a late reply is never mistaken for the answer to a later request.
// Not thread-safe: one client per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <google/protobuf/message_lite.h>
#include <zmq.hpp>

#include "common/net/curve.h"
#include "common/util/status.h"

namespace chorus::net {

struct RpcClientOptions {
  std::string endpoint;                     // e.g. tcp://127.0.0.1:7450
  std::chrono::milliseconds timeout{5000};  // per call
  CurveClient curve;                        // enabled: the server is a CURVE server with this key
};

class RpcClient {
 public:
  explicit RpcClient(RpcClientOptions options);

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
  RpcClientOptions options_;
  std::unique_ptr<zmq::socket_t> socket_;
};

}  // namespace chorus::net
