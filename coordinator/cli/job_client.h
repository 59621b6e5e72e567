// JobClient: the CLI's connection to the coordinator. Finds it (flag, then
// CHORUS_COORDINATOR, then the endpoint file in the coordinator's state
// directory, then the config's listen address), finds the token (CHORUS_TOKEN,
// the config, STATE_DIR/token), and turns every call into a Result whose
// Status names what went wrong ("no coordinator answered at ...").
// Not thread-safe: one client per thread.
#pragma once

#include <chrono>
#include <string>

#include "common/net/rpc_client.h"
#include "common/proto/job.pb.h"
#include "common/util/status.h"

namespace chorus::cli {

struct ConnectOptions {
  std::string coordinator;   // --coordinator
  std::string config_path;   // --config ("" : $CHORUS_CONFIG, else configs/coordinator.yaml if present)
  std::string state_dir;     // --state-dir (overrides the config's)
  std::chrono::milliseconds timeout{5000};
};

// A reply for scripts: indented JSON with the .proto field names.
std::string ToJson(const google::protobuf::Message& message);

class JobClient {
 public:
  static Result<JobClient> Connect(const ConnectOptions& options);

  // Sends `request` (the token is added) and returns the reply when its code
  // is OK; otherwise the reply's error as a Status with the reply's code.
  Result<proto::Reply> Call(proto::Request request);

  const std::string& endpoint() const { return client_.endpoint(); }
  const std::string& token() const { return token_; }

 private:
  JobClient(net::RpcClientOptions options, std::string token) : client_(std::move(options)), token_(std::move(token)) {}
  net::RpcClient client_;
  std::string token_;
};

// The coordinator's serving endpoints (broker client socket, HTTP gateway),
// with the client that fetched them (its token is needed to infer).
struct ServingConnection {
  JobClient client;
  proto::ServingStatus status;
  // How to reach the broker's client socket (over CURVE when it speaks it).
  net::RpcClientOptions Broker(std::chrono::milliseconds timeout) const {
    return {status.client_endpoint(), timeout, {status.curve_server_key(), {}}};
  }
};
Result<ServingConnection> ConnectServing(const ConnectOptions& connect);

}  // namespace chorus::cli
