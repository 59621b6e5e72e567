// ControlClient: one control request (proto::Request, what the chorus CLI
// sends) to the coordinator, from code that runs on many threads: the HTTP
// faces' handlers (the gateway's repository extension, the dashboard). It
// sets the token, sends on the calling thread's own REQ socket (made on first
// use; REQ sockets belong to one thread), and turns the reply's code into the
// Status: Unavailable when the coordinator does not answer in time.
// Thread-safe.
#pragma once

#include <chrono>
#include <string>

#include "common/net/curve.h"
#include "common/proto/job.pb.h"
#include "common/util/status.h"

namespace chorus::coordinator {

class ControlClient {
 public:
  // `curve` enabled: the coordinator's socket speaks CURVE with that key.
  ControlClient(std::string endpoint, std::string token, net::CurveClient curve = {},
                std::chrono::milliseconds timeout = std::chrono::milliseconds(30000))
      : endpoint_(std::move(endpoint)), token_(std::move(token)), curve_(std::move(curve)), timeout_(timeout) {}

  Result<proto::Reply> Call(proto::Request request) const;

 private:
  std::string endpoint_;
  std::string token_;
  net::CurveClient curve_;
  std::chrono::milliseconds timeout_;
};

}  // namespace chorus::coordinator
