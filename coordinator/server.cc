#include "coordinator/server.h"

#include <spdlog/spdlog.h>

#include "common/net/zmq_channel.h"

namespace chorus::coordinator {

Result<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Bind(const std::string& listen) {
  std::string address = listen;
  if (address.size() > 2 && address.compare(address.size() - 2, 2, ":0") == 0)
    address = address.substr(0, address.size() - 1) + "*";  // ZeroMQ's "any free port"
  auto socket = std::make_unique<zmq::socket_t>(net::SharedContext(), zmq::socket_type::router);
  try {
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::router_mandatory, 0);
    socket->bind(address);
  } catch (const zmq::error_t& e) {
    return Unavailable("cannot listen on " + listen + ": " + e.what() +
                       (e.num() == EADDRINUSE ? " (is another coordinator running?)" : ""));
  }
  std::string endpoint = socket->get(zmq::sockopt::last_endpoint);
  if (endpoint.rfind("tcp://0.0.0.0:", 0) == 0) endpoint = "tcp://127.0.0.1:" + endpoint.substr(14);
  return std::unique_ptr<CoordinatorServer>(new CoordinatorServer(std::move(socket), endpoint));
}

void CoordinatorServer::Run(const std::function<proto::Reply(const proto::Request&)>& handle,
                            const std::function<void()>& tick, std::chrono::milliseconds tick_interval,
                            const std::atomic<bool>& stop) {
  auto next_tick = std::chrono::steady_clock::now();
  while (!stop.load()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_tick) {
      tick();
      next_tick = std::chrono::steady_clock::now() + tick_interval;
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - std::chrono::steady_clock::now());
    zmq::pollitem_t item{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::max(wait, std::chrono::milliseconds(0)));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      spdlog::error("poll: {}", e.what());
      continue;
    }
    if (!(item.revents & ZMQ_POLLIN)) continue;
    // Drain what is waiting, then go back to ticking.
    for (int i = 0; i < 1000; ++i) {
      auto message = net::ReceiveRouted(*socket_);
      if (!message.ok()) {
        spdlog::warn("dropped a malformed message: {}", message.status().message());
        continue;
      }
      if (!message->has_value()) break;
      proto::Request request;
      proto::Reply reply;
      if (Status s = net::ParseProto((*message)->payload, &request); !s.ok()) {
        reply.set_code(StatusCodeName(s.code()));
        reply.set_error(s.message());
      } else {
        reply = handle(request);
      }
      if (Status s = net::ReplyRouted(*socket_, **message, reply); !s.ok()) spdlog::warn("{}", s.ToString());
    }
  }
}

}  // namespace chorus::coordinator
