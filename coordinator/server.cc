#include "coordinator/server.h"

#include <spdlog/spdlog.h>

#include "common/net/zmq_channel.h"
#include "coordinator/access.h"

namespace chorus::coordinator {

Result<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Bind(const std::string& listen,
                                                                   const std::string& advertise,
                                                                   const net::CurveKeys& curve) {
  std::string endpoint;
  ASSIGN_OR_RETURN(std::unique_ptr<zmq::socket_t> socket,
                   net::BindRouter(listen, &endpoint, {0, advertise, curve, kJobDomain}));
  return std::unique_ptr<CoordinatorServer>(new CoordinatorServer(std::move(socket), endpoint));
}

void CoordinatorServer::Run(const std::function<proto::Reply(const proto::Request&, const std::string&)>& handle,
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
      if (Status s = net::ParseProto((*message)->header, &request); !s.ok()) {
        reply.set_code(StatusCodeName(s.code()));
        reply.set_error(s.message());
      } else {
        reply = handle(request, (*message)->peer_key);
      }
      if (Status s = net::ReplyRouted(*socket_, **message, reply); !s.ok()) spdlog::warn("{}", s.ToString());
    }
  }
}

}  // namespace chorus::coordinator
