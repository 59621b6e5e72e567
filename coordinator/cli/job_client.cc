#include "coordinator/cli/job_client.h"

#include <cstdlib>
#include <filesystem>

#include <google/protobuf/util/json_util.h>

#include "common/util/fs.h"
#include "coordinator/coordinator_config.h"

namespace chorus::cli {

namespace fs = std::filesystem;

namespace {

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

Result<JobClient> JobClient::Connect(const ConnectOptions& options) {
  std::string config_path = options.config_path;
  if (config_path.empty()) {
    if (const char* env = std::getenv("CHORUS_CONFIG"); env && *env) config_path = env;
    else if (fs::exists("configs/coordinator.yaml")) config_path = "configs/coordinator.yaml";
  }
  ASSIGN_OR_RETURN(coordinator::CoordinatorConfig config, coordinator::LoadCoordinatorConfig(config_path));
  const std::string state_dir =
      options.state_dir.empty() ? config.state_dir : fs::absolute(options.state_dir).lexically_normal().string();

  std::string endpoint = options.coordinator;
  if (endpoint.empty())
    if (const char* env = std::getenv("CHORUS_COORDINATOR"); env && *env) endpoint = env;
  if (endpoint.empty())
    if (auto written = ReadFile(state_dir + "/endpoint"); written.ok()) endpoint = FirstLine(*written);
  if (endpoint.empty()) endpoint = config.listen;

  std::string token = config.token;
  if (const char* env = std::getenv("CHORUS_TOKEN"); env && *env) token = env;
  if (token.empty())
    if (auto stored = ReadFile(state_dir + "/token"); stored.ok()) token = FirstLine(*stored);
  // The coordinator's CURVE key, if it speaks CURVE: CHORUS_CURVE_SERVER_KEY,
  // else STATE_DIR/curve.pub on its own host.
  ASSIGN_OR_RETURN(net::CurveClient curve, net::CurveClientFromEnvironment());
  if (!curve.enabled())
    if (auto written = ReadFile(state_dir + "/curve.pub"); written.ok()) curve.server_key = FirstLine(*written);
  if (curve.enabled() && !net::IsCurveKey(curve.server_key))
    return InvalidArgument(state_dir + "/curve.pub does not hold a CURVE public key (40 characters of Z85)");
  return JobClient({endpoint, options.timeout, curve}, token);
}

Result<proto::Reply> JobClient::Call(proto::Request request) {
  request.set_token(token_);
  proto::Reply reply;
  Status sent = client_.Call(request, &reply);
  if (!sent.ok()) {
    if (sent.code() == StatusCode::kUnavailable)
      return Unavailable("no coordinator answered at " + client_.endpoint() +
                         ". Start one with: build/bin/chorus-coordinator --config configs/coordinator.yaml "
                         "(or point --coordinator / CHORUS_COORDINATOR at a running one)" +
                         std::string(client_.curve_enabled()
                                         ? "; it must speak CURVE with the key in CHORUS_CURVE_SERVER_KEY or "
                                           "STATE_DIR/curve.pub"
                                         : ""));
    return sent;
  }
  if (reply.code() != "OK") {
    std::string error = reply.error();
    if (reply.code() == "UNAUTHENTICATED")
      error += " (set CHORUS_TOKEN, or run on the coordinator's host where STATE_DIR/token is readable)";
    return Status(StatusCodeFromName(reply.code()), error);
  }
  return reply;
}

Result<ServingConnection> ConnectServing(const ConnectOptions& connect) {
  ASSIGN_OR_RETURN(JobClient client, JobClient::Connect(connect));
  proto::Request r;
  r.set_serving(true);
  ASSIGN_OR_RETURN(proto::Reply reply, client.Call(r));
  return ServingConnection{std::move(client), reply.serving()};
}

}  // namespace chorus::cli
