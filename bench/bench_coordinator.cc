#include "bench/bench_coordinator.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench/bench_process.h"
#include "common/net/rpc_client.h"
#include "common/util/fs.h"

namespace chorus::bench {

namespace fs = std::filesystem;

Coordinator::~Coordinator() {
  if (pid_ > 0) KillSession(pid_);
}

Status Coordinator::Start(const std::string& bin, const std::string& dir, const CoordinatorOptions& options) {
  state_ = dir + "/state";
  const std::string config = dir + "/coordinator.yaml";
  const bool ipc = options.transport == "ipc";
  const std::string client = ipc ? "ipc://" + dir + "/clients.sock" : "tcp://127.0.0.1:0";
  const std::string worker = ipc ? "ipc://" + dir + "/workers.sock" : "tcp://127.0.0.1:0";
  std::ofstream(config) << "listen: tcp://127.0.0.1:0\nstate_dir: " << state_ << "\nworker: " << bin
                        << "/chorus-worker\ntick_ms: 50\nserving: {client_listen: \"" << client
                        << "\", worker_listen: \"" << worker << "\", http: \"127.0.0.1:0\", max_queue: "
                        << options.max_queue << ", model_repository: \"" << dir << "/models\""
                        << (options.extra_serving.empty() ? "" : ", " + options.extra_serving) << "}\n";
  pid_ = SpawnSession({bin + "/chorus-coordinator", "--config", config, "--log-level", "warn"},
                      dir + "/coordinator.log");
  for (int i = 0; i < 100 && !fs::exists(state_ + "/serving.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto endpoint = ReadFile(state_ + "/endpoint");
  auto token = ReadFile(state_ + "/token");
  if (!endpoint.ok() || !token.ok()) return Unavailable("the coordinator did not start; see " + dir);
  endpoint_ = endpoint->substr(0, endpoint->find('\n'));
  token_ = token->substr(0, token->find('\n'));
  ASSIGN_OR_RETURN(proto::ServingStatus s, Serving());
  client_endpoint_ = s.client_endpoint();
  http_port_ = std::atoi(s.http().substr(s.http().rfind(':') + 1).c_str());
  return Status::Ok();
}

Result<proto::Reply> Coordinator::Call(proto::Request r) {
  r.set_token(token_);
  proto::Reply reply;
  net::RpcClient client({endpoint_, std::chrono::milliseconds(10000), {}});
  RETURN_IF_ERROR(client.Call(r, &reply));
  if (reply.code() != "OK") return Internal(reply.error());
  return reply;
}

Result<proto::ServingStatus> Coordinator::Serving() {
  proto::Request r;
  r.set_serving(true);
  ASSIGN_OR_RETURN(proto::Reply reply, Call(r));
  return reply.serving();
}

int Coordinator::ReadyWorkers(const std::string& model) {
  auto s = Serving();
  int n = 0;
  if (s.ok())
    for (const auto& w : s->workers()) n += w.model() == model && w.state() == "READY";
  return n;
}

Status Coordinator::Deploy(proto::Deployment d, int workers) {
  proto::Request r;
  *r.mutable_deploy()->mutable_deployment() = d;
  RETURN_IF_ERROR(Call(r).status());
  for (int i = 0; i < 600; ++i) {
    if (ReadyWorkers(d.name()) >= workers) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return DeadlineExceeded("workers of " + d.name() + " did not start");
}

Status Coordinator::Undeploy(const std::string& name) {
  proto::Request r;
  r.set_undeploy(name);
  RETURN_IF_ERROR(Call(r).status());
  for (int i = 0; i < 600; ++i) {
    auto s = Serving();
    bool any = false;
    if (s.ok())
      for (const auto& w : s->workers()) any |= w.model() == name;
    if (!any) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return DeadlineExceeded("workers of " + name + " did not leave");
}

proto::InferRequest Coordinator::Request(const std::string& model) const {
  proto::InferRequest r;
  r.set_token(token_);
  r.set_model(model);
  return r;
}

proto::Deployment Deployment(const std::string& name, const std::string& dir, const std::string& device, int max_batch,
                             int delay_us, int threads, int min_workers, int max_workers, double target) {
  proto::Deployment d;
  d.set_device(device);
  d.set_name(name);
  d.set_model_dir(dir);
  d.set_launcher("local");
  d.set_max_batch(max_batch);
  d.set_max_delay_us(delay_us);
  d.set_threads(threads);
  auto* p = d.mutable_policy();
  p->set_min_workers(min_workers);
  p->set_max_workers(max_workers);
  p->set_target_ongoing(target);
  p->set_scale_up_delay_s(0);
  p->set_scale_down_delay_s(3600);
  return d;
}

void LatencyParts::Add(double latency, const proto::InferReply& reply) {
  outside.push_back(latency - reply.broker_us() * 1e-6);
  routing.push_back((reply.broker_us() - reply.queue_us() - reply.compute_us()) * 1e-6);
  queued.push_back(reply.queue_us() * 1e-6);
  compute.push_back(reply.compute_us() * 1e-6);
}

}  // namespace chorus::bench
