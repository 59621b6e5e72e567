#include "coordinator/control_client.h"

#include <map>
#include <memory>

#include "common/net/rpc_client.h"

namespace chorus::coordinator {

Result<proto::Reply> ControlClient::Call(proto::Request request) const {
  if (endpoint_.empty()) return FailedPrecondition("no coordinator control endpoint is configured");
  request.set_token(token_);
  // This thread's socket per endpoint and timeout.
  thread_local std::map<std::pair<std::string, int64_t>, std::unique_ptr<net::RpcClient>> clients;
  auto& client = clients[{endpoint_, timeout_.count()}];
  if (!client) client = std::make_unique<net::RpcClient>(net::RpcClientOptions{endpoint_, timeout_, curve_});
  proto::Reply reply;
  if (Status s = client->Call(request, &reply); !s.ok()) return Unavailable("coordinator: " + s.message());
  if (reply.code() != "OK") return Status(StatusCodeFromName(reply.code()), reply.error());
  return reply;
}

}  // namespace chorus::coordinator
