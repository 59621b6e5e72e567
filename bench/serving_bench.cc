// serving_bench: what serving through the coordinator costs, side by side
// with the model run in one process (same model, same input, same threads).
//  1. Overhead: p50 end-to-end latency at concurrency 1 (client -> broker ->
//     worker -> back) minus the p50 of the raw front end + forward. Goal <= 150 us.
//  2. Saturation: requests/s with features input and dynamic batching, against
//     the raw batched forward in one process. Goal >= 90%.
//  3. Dynamic batching: requests/s at concurrency 32, batching on vs max batch 1.
//  4. Scale-up reaction: from a load step to the first answer by a new worker.
//  5. The HTTP path at concurrency 1: a WAV body and an OIP JSON body (audio
//     FP32) through the gateway, minus the raw path, against a bare HTTP round
//     trip of the same payload (cpp-httplib server and client, no work).
//     Goal: overhead <= that floor + 100 us.
//  6. Rolling update under load (closed loop, 4 clients): failed requests
//     (goal 0) and the longest gap between answers, for an update in place
//     (only the folder changes: the worker loads the new version) and one by
//     new workers (the batching changes too), beside the same load with no
//     update.
// It starts a real chorus-coordinator and real `chorus-worker serve` workers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <zmq.hpp>

#include "bench/bench_coordinator.h"
#include "bench/bench_util.h"
#include "common/audio/wav_io.h"
#include "common/models/model_bundle.h"
#include "common/models/threads.h"
#include "common/net/rpc_client.h"
#include "common/net/zmq_channel.h"
#include "common/proto/infer_frames.h"
#include "common/proto/job.pb.h"
#include "common/util/allocator.h"
#include "common/util/fs.h"
#include "worker/serve/served_model.h"

namespace {

namespace fs = std::filesystem;
using namespace chorus;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

struct Load {
  std::vector<double> latencies;
  int64_t errors = 0;
  double seconds = 0;
  int64_t batched = 0;     // the sum of the answered requests' batch sizes (RunAsyncLoad)
  double compute_s = 0;    // the workers' compute, each request's share of its batch's (RunAsyncLoad)
  double rate() const { return latencies.size() / seconds; }
  double mean_batch() const { return latencies.empty() ? 0 : static_cast<double>(batched) / latencies.size(); }
};

// Closed loop: `concurrency` clients, each sending `request` again as soon as it is answered.
// on_reply (optional) sees every reply with its latency (seconds), as it arrives.
Load RunLoad(const std::string& endpoint, const proto::InferRequest& request, int concurrency, double seconds,
             const std::function<void(const proto::InferReply&, double latency)>& on_reply = nullptr) {
  std::vector<std::vector<double>> lat(concurrency);
  std::atomic<int64_t> errors{0};
  std::mutex mutex;
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  for (int i = 0; i < concurrency; ++i)
    threads.emplace_back([&, i] {
      net::RpcClient client({endpoint, std::chrono::milliseconds(15000), {}});
      proto::InferReply reply;
      proto::InferRequest header = request;  // a load generator encodes once
      const std::string input = proto::TakeInput(&header);
      const std::string bytes = header.SerializeAsString();
      while (Clock::now() < end) {
        auto t0 = Clock::now();
        if (!client.CallSerialized(bytes, &reply, &input).ok() || reply.code() != "OK") {
          ++errors;
          continue;
        }
        lat[i].push_back(Since(t0));
        if (on_reply) {
          std::lock_guard<std::mutex> lock(mutex);
          on_reply(reply, lat[i].back());
        }
      }
    });
  for (auto& t : threads) t.join();
  Load out;
  out.seconds = Since(start);
  out.errors = errors;
  for (auto& l : lat) out.latencies.insert(out.latencies.end(), l.begin(), l.end());
  return out;
}

// Throughput only, with one thread: a DEALER keeps `outstanding` requests in
// flight (like an asynchronous perf_analyzer), so the load generator takes
// little of the CPU the server needs.
Load RunAsyncLoad(const std::string& endpoint, const proto::InferRequest& request, int outstanding, double seconds) {
  zmq::socket_t socket(net::SharedContext(), zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(endpoint);
  proto::InferRequest header = request;
  const std::string input = proto::TakeInput(&header);
  auto send = [&] {
    zmq::message_t frame(input.data(), input.size());
    (void)net::SendProto(socket, header, /*delimiter=*/true, &frame);
  };
  for (int i = 0; i < outstanding; ++i) send();
  Load out;
  const auto start = Clock::now();
  int64_t answered = 0, in_flight = outstanding;
  while (in_flight > 0) {
    zmq::pollitem_t item{static_cast<void*>(socket), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(15000));
    if (!(item.revents & ZMQ_POLLIN)) break;
    auto message = net::ReceiveDealt(socket);
    if (!message.ok() || !message->has_value()) continue;
    --in_flight;
    proto::InferReply reply;
    if (net::ParseProto((*message)->header, &reply).ok() && reply.code() == "OK") {
      ++answered;
      out.batched += reply.batch_size();
      out.compute_s += 1e-6 * reply.compute_us() / std::max(1, reply.batch_size());
    } else {
      ++out.errors;
    }
    if (Since(start) < seconds) {
      send();
      ++in_flight;
    }
  }
  out.seconds = Since(start);
  out.latencies.assign(answered, 0.0);
  return out;
}

// p50 of one ZeroMQ request/reply round trip (REQ -> ROUTER echo on a thread)
// over `transport` with a payload of `bytes`: the floor under any broker.
double RoundTripFloor(const std::string& transport, const std::string& dir, size_t bytes) {
  const std::string endpoint = transport == "ipc" ? "ipc://" + dir + "/floor.sock" : "tcp://127.0.0.1:*";
  zmq::socket_t echo(net::SharedContext(), zmq::socket_type::router);
  echo.set(zmq::sockopt::linger, 0);
  echo.bind(endpoint);
  const std::string bound = echo.get(zmq::sockopt::last_endpoint);
  const int n = 2000;
  std::thread server([&] {
    for (int i = 0; i < n; ++i) {
      std::vector<zmq::message_t> parts;
      do {
        zmq::message_t m;
        (void)echo.recv(m);
        parts.push_back(std::move(m));
      } while (echo.get(zmq::sockopt::rcvmore));
      for (size_t k = 0; k < parts.size(); ++k)
        echo.send(parts[k], k + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  });
  zmq::socket_t req(net::SharedContext(), zmq::socket_type::req);
  req.set(zmq::sockopt::linger, 0);
  req.connect(bound);
  std::string payload(bytes, 'x');
  std::vector<double> t;
  for (int i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    req.send(zmq::buffer(payload));
    zmq::message_t m;
    (void)req.recv(m);
    t.push_back(Since(t0));
  }
  server.join();
  return Percentile(t, 0.5);
}

// p50 of a keep-alive POST of `body` to a cpp-httplib server on a thread that
// answers at once with a small JSON: the floor under any HTTP gateway.
double HttpFloor(const std::string& body, const std::string& content_type, double seconds) {
  httplib::Server server;
  server.set_tcp_nodelay(true);
  server.Post("/echo", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"model_name":"x","outputs":[]})", "application/json");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread listener([&] { server.listen_after_bind(); });
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  std::vector<double> t;
  for (auto start = Clock::now(); Since(start) < seconds;) {
    auto t0 = Clock::now();
    auto res = client.Post("/echo", body, content_type);
    if (res && res->status == 200) t.push_back(Since(t0));
  }
  server.stop();
  listener.join();
  return t.empty() ? 0 : Percentile(t, 0.5);
}

// p50 of keep-alive POSTs of `body` to the gateway's `path` (they must all answer 200).
Result<double> HttpLatency(int port, const std::string& path, const std::string& token, const std::string& body,
                           const std::string& content_type, double seconds) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  httplib::Headers headers = {{"Authorization", "Bearer " + token}};
  std::vector<double> t;
  for (auto start = Clock::now(); Since(start) < seconds;) {
    auto t0 = Clock::now();
    auto res = client.Post(path, headers, body, content_type);
    if (!res || res->status != 200)
      return Internal("POST " + path + ": " + (res ? std::to_string(res->status) + " " + res->body : "no answer"));
    t.push_back(Since(t0));
  }
  return Percentile(t, 0.5);
}

std::string g_device = "cpu";  // where workers and the raw path run batches

proto::Deployment Deployment(const std::string& name, const std::string& dir, int max_batch, int delay_us,
                             int threads, int min_workers, int max_workers, double target) {
  return bench::Deployment(name, dir, g_device, max_batch, delay_us, threads, min_workers, max_workers, target);
}

// What `chorus deploy` gives a user who sets nothing (coordinator/cli/serve_commands.h).
constexpr int kDefaultMaxBatch = 8;
int g_delay_us = 0;  // --max-delay-us; the deploy default

int Fail(const Status& s) {
  std::cerr << "serving_bench: " << s.ToString() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"serving_bench: serving overhead, saturation throughput, dynamic batching and scale-up reaction, "
               "against the model run directly in one process"};
  double seconds = 5;
  int threads = 1, max_batch = 32;
  app.add_option("--seconds", seconds, "per measurement")->capture_default_str();
  int rounds = 5;
  app.add_option("--rounds", rounds, "raw and served measured alternately this many times (medians)")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--threads", threads, "intra-op threads, worker and raw alike")->capture_default_str();
  app.add_option("--max-batch", max_batch, "dynamic batching: largest batch")->capture_default_str();
  app.add_option("--max-delay-us", g_delay_us, "dynamic batching: longest wait for a batch to fill (deploy's default)")
      ->capture_default_str()->check(CLI::Range(0, 1'000'000));
  std::string transport = "tcp";
  app.add_option("--transport", transport, "tcp (loopback) or ipc (unix sockets) between clients, broker and workers")
      ->check(CLI::IsMember({"tcp", "ipc"}))->capture_default_str();
  app.add_option("--device", g_device, "cpu, cuda or cuda:N: where the workers and the raw path run batches")
      ->capture_default_str();
  std::vector<int> sections = {1, 2, 3, 4, 5, 6};
  app.add_option("--sections", sections,
                 "which measurements to run (1 overhead, 2 saturation, 3 batching, 4 scale-up, 5 HTTP overhead, "
                 "6 rolling update)")
      ->delimiter(',')->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  auto wanted = [&](int section) { return std::find(sections.begin(), sections.end(), section) != sections.end(); };

  TuneAllocatorForTensors();  // as chorus-worker does, so the raw path is not slowed by page faults
  std::error_code ec;
  const std::string bin = bench::BinDir();
  const std::string dir = bench::FreshOutputDir("serving");

  // The demo's keyword spotter shape: TC-ResNet width 24, 40 log-mel x 98 frames, 12 classes.
  models::ModelMetadata meta;
  meta.name = "kws";
  meta.model.name = "tc_resnet";
  meta.model.width = 24;
  meta.shape = {98, 40, 12};
  for (int i = 0; i < 12; ++i) meta.labels.push_back("label" + std::to_string(i));
  torch::manual_seed(1);
  auto model = models::CreateModel(meta.model, meta.shape);
  if (!model.ok()) return Fail(model.status());
  (*model)->eval();
  auto model_dir = models::ExportModel(**model, meta, dir + "/models");
  if (!model_dir.ok()) return Fail(model_dir.status());

  // The same input both ways: one second of a tone, as a 16-bit WAV file (what
  // clients send); the raw path decodes it too.
  audio::Waveform tone;
  tone.sample_rate = 16000;
  for (int t = 0; t < 16000; ++t) tone.samples.push_back(0.3f * std::sin(2 * M_PI * 440 * t / 16000.0));
  if (Status s = audio::WriteAudio(dir + "/tone.wav", tone); !s.ok()) return Fail(s);
  proto::InferRequest audio;
  audio.set_wav(ReadFile(dir + "/tone.wav").value());

  // Raw: the same model in this process, measured in rounds interleaved with
  // the served measurements (this VM's speed drifts by tens of percent).
  chorus::models::SetComputeThreads(threads);
  auto raw = serve::ServedModel::Load(*model_dir, g_device);
  if (!raw.ok()) return Fail(raw.status());
  at::Tensor features = (*raw)->Prepare(audio).value();
  auto raw_latency_p50 = [&](double duration, const proto::InferRequest* request = nullptr) {
    if (!request) request = &audio;
    std::vector<double> latency;
    auto start = Clock::now();
    while (Since(start) < duration) {
      auto t0 = Clock::now();
      at::Tensor input = (*raw)->Prepare(*request).value();
      proto::InferReply reply;
      std::vector<proto::InferReply*> replies = {&reply};
      (void)(*raw)->Predict({input}, {request}, replies);
      latency.push_back(Since(t0));
    }
    return Percentile(latency, 0.5);
  };
  auto raw_batched_rate = [&](double duration) {
    std::vector<at::Tensor> batch(max_batch, features);
    std::vector<const proto::InferRequest*> requests(max_batch, &audio);
    std::vector<proto::InferReply> replies(max_batch);
    std::vector<proto::InferReply*> out;
    for (auto& r : replies) out.push_back(&r);
    int64_t n = 0;
    auto t0 = Clock::now();
    while (Since(t0) < duration) {
      for (auto& r : replies) r.Clear();
      (void)(*raw)->Predict(batch, requests, out);
      n += max_batch;
    }
    return n / Since(t0);
  };
  (void)raw_latency_p50(0.5);  // warm up

  bench::Coordinator coordinator;
  if (Status s = coordinator.Start(bin, dir, transport); !s.ok()) return Fail(s);
  std::printf("serving a TC-ResNet (width 24, 98x40 log-mel, 12 classes) on %s; %d intra-op thread(s); %s; this "
              "machine: %u cores; medians of %d interleaved rounds\n\n", g_device.c_str(), threads, transport.c_str(),
              std::thread::hardware_concurrency(), rounds);
  const double slice = seconds / rounds;

  // 1. Overhead at concurrency 1, deployed with `chorus deploy`'s defaults
  //    (max batch 8, max delay 0): batching must cost nothing with no company.
  if (wanted(1)) {
    if (Status s = coordinator.Deploy(Deployment("lat", *model_dir, kDefaultMaxBatch, g_delay_us, threads, 1, 1, 1000), 1); !s.ok())
      return Fail(s);
    proto::InferRequest lat_request = coordinator.Request("lat");
    lat_request.set_wav(audio.wav());
    (void)RunLoad(coordinator.client_endpoint(), lat_request, 1, 1);  // warm up
    std::vector<double> raw_p50s, served_p50s, overheads;
    bench::LatencyParts parts;  // where a served request's time goes
    for (int r = 0; r < rounds; ++r) {
      raw_p50s.push_back(raw_latency_p50(slice));
      Load load = RunLoad(coordinator.client_endpoint(), lat_request, 1, slice,
                          [&](const proto::InferReply& reply, double latency) { parts.Add(latency, reply); });
      served_p50s.push_back(Percentile(load.latencies, 0.5));
      overheads.push_back(served_p50s.back() - raw_p50s.back());
    }
    (void)coordinator.Undeploy("lat");
    const double overhead = Percentile(overheads, 0.5);
    const double floor = RoundTripFloor(transport, dir, audio.wav().size());
    std::printf("1. latency at concurrency 1 (WAV in: decode + front end + forward; max batch %d, "
                "max delay %d us)\n", kDefaultMaxBatch, g_delay_us);
    std::printf("   raw in one process p50 %8.0f us | through coordinator p50 %8.0f us | overhead %6.0f us "
                "(goal <= 150 us: %s)\n",
                Percentile(raw_p50s, 0.5) * 1e6, Percentile(served_p50s, 0.5) * 1e6, overhead * 1e6,
                overhead <= 150e-6 ? "met" : "NOT met");
    std::printf("   transport floor: one bare ZeroMQ round trip with this payload takes %.0f us p50 here; a request "
                "through the broker makes two (%.0f us)\n", floor * 1e6, 2 * floor * 1e6);
    std::printf("   served, p50 of each part: outside the broker %.0f us | routing and worker hops %.0f us | worker "
                "queue %.0f us | worker compute %.0f us (raw %.0f us)\n\n",
                Percentile(parts.outside, 0.5) * 1e6, Percentile(parts.routing, 0.5) * 1e6,
                Percentile(parts.queued, 0.5) * 1e6, Percentile(parts.compute, 0.5) * 1e6,
                Percentile(raw_p50s, 0.5) * 1e6);
  }

  // 2. Saturation: features in, dynamic batching.
  if (wanted(2)) {
    if (Status s = coordinator.Deploy(Deployment("sat", *model_dir, max_batch, g_delay_us, threads, 1, 1, 1000), 1); !s.ok())
      return Fail(s);
    proto::InferRequest feat_request = coordinator.Request("sat");
    proto::Tensor* t = feat_request.mutable_features();
    t->add_shape(features.size(0));
    t->add_shape(features.size(1));
    at::Tensor contiguous = features.contiguous();
    t->mutable_data()->Add(contiguous.data_ptr<float>(), contiguous.data_ptr<float>() + contiguous.numel());
    (void)RunAsyncLoad(coordinator.client_endpoint(), feat_request, 2 * max_batch, 1);
    std::vector<double> raw_rates, served_rates, ratios, batches, computes;
    for (int r = 0; r < rounds; ++r) {
      raw_rates.push_back(raw_batched_rate(slice));
      const Load served = RunAsyncLoad(coordinator.client_endpoint(), feat_request, 2 * max_batch, slice);
      served_rates.push_back(served.rate());
      batches.push_back(served.mean_batch());
      computes.push_back(served.compute_s / std::max<size_t>(1, served.latencies.size()));
      ratios.push_back(served_rates.back() / raw_rates.back());
    }
    (void)coordinator.Undeploy("sat");
    const double ratio = Percentile(ratios, 0.5);
    std::printf("2. saturation (features in, max batch %d, %d requests in flight from one async client)\n", max_batch,
                2 * max_batch);
    std::printf("   raw batched forward %8.0f /s | through coordinator %8.0f /s | ratio %5.1f%% (goal >= 90%%: %s)\n",
                Percentile(raw_rates, 0.5), Percentile(served_rates, 0.5), 100 * ratio, ratio >= 0.9 ? "met" : "NOT met");
    std::printf("   per request: raw %.0f us | served %.0f us, of which the worker's compute %.0f us; mean batch %.1f (raw %d)\n\n",
                1e6 / Percentile(raw_rates, 0.5), 1e6 / Percentile(served_rates, 0.5), 1e6 * Percentile(computes, 0.5),
                Percentile(batches, 0.5), max_batch);
  }

  // 3. Dynamic batching at concurrency 32, audio in.
  if (wanted(3)) {
    double rates[2] = {0, 0};
    int index = 0;
    for (int batch : {1, max_batch}) {
      const std::string name = "batch" + std::to_string(batch);
      if (Status s = coordinator.Deploy(Deployment(name, *model_dir, batch, g_delay_us, threads, 1, 1, 1000), 1); !s.ok())
        return Fail(s);
      proto::InferRequest r = coordinator.Request(name);
      r.set_wav(audio.wav());
      (void)RunLoad(coordinator.client_endpoint(), r, 32, 1);
      rates[index++] = RunLoad(coordinator.client_endpoint(), r, 32, seconds).rate();
      (void)coordinator.Undeploy(name);
    }
    std::printf("3. dynamic batching at concurrency 32 (WAV in)\n");
    std::printf("   max batch 1 %8.0f /s | max batch %d %8.0f /s | %.2fx\n\n", rates[0], max_batch, rates[1],
                rates[1] / rates[0]);
  }

  if (wanted(4)) {
    // 4. Scale-up reaction: 1 worker, target 2 ongoing per worker, then 16 clients at once.
    if (Status s = coordinator.Deploy(Deployment("scale", *model_dir, kDefaultMaxBatch, g_delay_us, threads, 1, 2, 2), 1); !s.ok())
      return Fail(s);
    proto::InferRequest scale_request = coordinator.Request("scale");
    scale_request.set_wav(audio.wav());
    std::string first_worker;
    double reaction = -1;
    auto step = Clock::now();
    Load scale = RunLoad(coordinator.client_endpoint(), scale_request, 16, std::max(5.0, seconds),
                         [&](const proto::InferReply& r, double) {
                           if (first_worker.empty()) first_worker = r.worker();
                           if (reaction < 0 && r.worker() != first_worker) reaction = Since(step);
                         });
    (void)coordinator.Undeploy("scale");
    std::printf("4. scale-up reaction (1 -> 2 workers, load step to 16 clients)\n");
    if (reaction >= 0)
      std::printf("   first answer from the new worker %.2f s after the load step (%lld answers, %lld errors)\n",
                  reaction, (long long)scale.latencies.size(), (long long)scale.errors);
    else
      std::printf("   no second worker answered within %.0f s\n", std::max(5.0, seconds));
    std::printf("\n");
  }

  // 5. The HTTP path at concurrency 1, deploy's defaults, WAV and OIP JSON bodies.
  if (wanted(5)) {
    if (Status s = coordinator.Deploy(Deployment("http", *model_dir, kDefaultMaxBatch, g_delay_us, threads, 1, 1, 1000), 1); !s.ok())
      return Fail(s);
    proto::InferRequest pcm;  // the JSON body's audio, as the gateway hands it on
    pcm.mutable_pcm()->set_sample_rate(tone.sample_rate);
    pcm.mutable_pcm()->mutable_samples()->Add(tone.samples.begin(), tone.samples.end());
    std::string json = R"({"inputs":[{"name":"audio","datatype":"FP32","shape":[)" +
                       std::to_string(tone.samples.size()) + R"(],"data":[)";
    for (size_t i = 0; i < tone.samples.size(); ++i) {
      char number[32];
      std::snprintf(number, sizeof number, "%s%.7g", i ? "," : "", tone.samples[i]);
      json += number;
    }
    json += R"(]}],"parameters":{"sample_rate":16000}})";
    const std::string path = "/v2/models/http/infer";
    struct Body {
      const char* what;
      const std::string* body;
      const char* type;
      const proto::InferRequest* raw;
    };
    const Body bodies[] = {{"WAV body", &audio.wav(), "audio/wav", &audio},
                           {"OIP JSON body (audio FP32)", &json, "application/json", &pcm}};
    std::printf("5. the HTTP path at concurrency 1 (keep-alive; max batch %d, max delay %d us)\n", kDefaultMaxBatch,
                g_delay_us);
    for (const Body& b : bodies) {
      if (auto warm = HttpLatency(coordinator.http_port(), path, coordinator.token(), *b.body, b.type, 0.5); !warm.ok())
        return Fail(warm.status());
      std::vector<double> raw_p50s, served_p50s, overheads;
      for (int r = 0; r < rounds; ++r) {
        raw_p50s.push_back(raw_latency_p50(slice, b.raw));
        auto served = HttpLatency(coordinator.http_port(), path, coordinator.token(), *b.body, b.type, slice);
        if (!served.ok()) return Fail(served.status());
        served_p50s.push_back(*served);
        overheads.push_back(served_p50s.back() - raw_p50s.back());
      }
      const double overhead = Percentile(overheads, 0.5);
      const double floor = HttpFloor(*b.body, b.type, std::max(1.0, slice));
      std::printf("   %-27s (%7zu bytes): raw p50 %7.0f us | through the gateway p50 %7.0f us | overhead %6.0f us | "
                  "bare HTTP round trip %5.0f us | goal <= floor + 100 = %5.0f us: %s\n",
                  b.what, b.body->size(), Percentile(raw_p50s, 0.5) * 1e6, Percentile(served_p50s, 0.5) * 1e6,
                  overhead * 1e6, floor * 1e6, (floor + 100e-6) * 1e6, overhead <= floor + 100e-6 ? "met" : "NOT met");
    }
    std::printf("\n");
    (void)coordinator.Undeploy("http");
  }

  // 6. Rolling updates under load: version 2 in place, then back to version 1 with other batching (new workers).
  if (wanted(6)) {
    const std::string v2 = fs::path(*model_dir).parent_path().string() + "/2";
    fs::copy(*model_dir, v2, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
    auto meta_json = ReadFile(v2 + "/model.json");
    if (ec || !meta_json.ok()) return Fail(Internal("cannot make version 2 in " + v2));
    nlohmann::json j = nlohmann::json::parse(*meta_json);
    j["version"] = 2;
    if (Status s = AtomicWriteFile(v2 + "/model.json", j.dump()); !s.ok()) return Fail(s);
    if (Status s = coordinator.Deploy(Deployment("roll", *model_dir, kDefaultMaxBatch, g_delay_us, threads, 1, 1, 1000), 1);
        !s.ok())
      return Fail(s);
    proto::InferRequest roll = coordinator.Request("roll");
    roll.set_wav(audio.wav());
    const double window = std::max(6.0, seconds);
    struct Figures {
      int64_t answers = 0, errors = 0;
      double gap = 0;
      int64_t last_version = 0;
    };
    // The load, with `update` (if any) deployed a third of the way in.
    auto measure = [&](const std::function<Status()>& update) -> Result<Figures> {
      std::vector<Clock::time_point> answered;
      int64_t last_version = 0;
      const auto start = Clock::now();
      Status updated = Status::Ok();
      std::thread updater([&] {
        if (!update) return;
        std::this_thread::sleep_for(std::chrono::duration<double>(window / 3));
        updated = update();
      });
      Load load = RunLoad(coordinator.client_endpoint(), roll, 4, window, [&](const proto::InferReply& r, double) {
        answered.push_back(Clock::now());
        last_version = r.version();
      });
      updater.join();
      RETURN_IF_ERROR(updated);
      Figures f;
      f.answers = static_cast<int64_t>(load.latencies.size());
      f.errors = load.errors;
      f.last_version = last_version;
      auto previous = start;
      for (const auto& t : answered) {
        f.gap = std::max(f.gap, std::chrono::duration<double>(t - previous).count());
        previous = t;
      }
      return f;
    };
    auto steady = measure(nullptr);
    auto in_place = measure([&] { return coordinator.Deploy(Deployment("roll", v2, kDefaultMaxBatch, g_delay_us, threads, 1, 1, 1000), 1); });
    auto by_workers = measure([&] { return coordinator.Deploy(Deployment("roll", *model_dir, 4, g_delay_us, threads, 1, 1, 1000), 1); });
    (void)coordinator.Undeploy("roll");
    for (const auto* f : {&steady, &in_place, &by_workers})
      if (!f->ok()) return Fail(f->status());
    std::printf("6. rolling update under load (4 clients, WAV in, %.0f s each; the update a third of the way in)\n",
                window);
    const struct {
      const char* what;
      const Figures& f;
    } rows[] = {{"no update (anchor)", *steady},
                {"in place (folder only: v1 -> v2)", *in_place},
                {"by new workers (v2 -> v1, max batch 4)", *by_workers}};
    for (const auto& row : rows)
      std::printf("   %-40s answers %7lld | failed %3lld (goal 0: %s) | longest gap between answers %7.1f ms "
                  "(%.1fx the anchor's) | last answer from version %lld\n",
                  row.what, (long long)row.f.answers, (long long)row.f.errors, row.f.errors == 0 ? "met" : "NOT met",
                  row.f.gap * 1e3, row.f.gap / std::max(1e-9, steady->gap), (long long)row.f.last_version);
    std::printf("\n");
  }

  return 0;
}
