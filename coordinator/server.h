// CoordinatorServer: the coordinator's ZeroMQ ROUTER socket and main loop.
// It answers every request (CLI REQ sockets, rank 0 DEALER sockets) with one
// Reply from JobApi, and calls the scheduler's Tick every `tick`. One thread
// runs everything, so the scheduler and store need no locks.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <zmq.hpp>

#include "common/net/curve.h"
#include "common/proto/job.pb.h"
#include "common/util/status.h"

namespace chorus::coordinator {

class CoordinatorServer {
 public:
  // Binds `listen` (a tcp port of 0 picks a free one).
  // `advertise`: the host peers use when `listen` is a wildcard (see net::BindRouter);
  // `curve` not empty: a CURVE server (ZAP domain kJobDomain).
  static Result<std::unique_ptr<CoordinatorServer>> Bind(const std::string& listen, const std::string& advertise = "",
                                                         const net::CurveKeys& curve = {});

  // The endpoint clients connect to, with the real port.
  const std::string& endpoint() const { return endpoint_; }

  // Serves until `stop` becomes true. `handle` gets each request and its
  // sender's CURVE public key ("" without CURVE).
  void Run(const std::function<proto::Reply(const proto::Request&, const std::string& peer_key)>& handle, const std::function<void()>& tick,
           std::chrono::milliseconds tick_interval, const std::atomic<bool>& stop);

 private:
  explicit CoordinatorServer(std::unique_ptr<zmq::socket_t> socket, std::string endpoint)
      : socket_(std::move(socket)), endpoint_(std::move(endpoint)) {}
  std::unique_ptr<zmq::socket_t> socket_;
  std::string endpoint_;
};

}  // namespace chorus::coordinator
