// stream_bench: streaming sessions through the coordinator, side by side with
// the per-chunk compute in one process (same model, same chunks).
//  1. Raw: one 32 ms chunk (512 samples at 16 kHz) through ServedModel::
//     StreamChunks with the session's state carried as bytes, as a worker
//     runs it, one at a time and 32 sessions' chunks per batch; the bound
//     each sets on streams per core (32 ms / its cost).
//  2. Real-time streams one worker (one intra-op thread) sustains: N sessions,
//     each sending a chunk every 32 ms (real time), latency counted from the
//     moment the chunk's audio was complete. Goal: >= 150 streams with p99
//     chunk latency <= 20 ms (Silero VAD's own compute is ~175 us a chunk
//     here; bench/vad_bench).
//  3. Failover under load: real-time streams on two workers, one killed with
//     SIGKILL a third of the way in: chunks lost (goal 0), chunks sent again,
//     and the longest chunk latency (the gap the kill made).
// It starts a real chorus-coordinator and real `chorus-worker serve` workers;
// the load comes from one thread with one DEALER socket (all sessions).
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <torch/torch.h>
#include <zmq.hpp>

#include "bench/bench_coordinator.h"
#include "bench/bench_util.h"
#include "common/models/model_bundle.h"
#include "common/models/threads.h"
#include "common/net/zmq_channel.h"
#include "common/proto/infer_frames.h"
#include "worker/serve/served_model.h"

namespace {

namespace fs = std::filesystem;
using namespace chorus;
using Clock = std::chrono::steady_clock;

constexpr int kRate = 16000;
constexpr int kChunk = 512;  // 32 ms
constexpr double kChunkSeconds = static_cast<double>(kChunk) / kRate;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

int Fail(const Status& s) {
  std::cerr << "stream_bench: " << s.ToString() << "\n";
  return 1;
}

// A second of speech-like noise: a tone with a slow envelope, plus noise.
std::vector<float> Audio() {
  std::vector<float> out(kRate);
  uint32_t seed = 1;
  for (int t = 0; t < kRate; ++t) {
    seed = seed * 1664525u + 1013904223u;
    const float noise = (static_cast<float>(seed >> 8) / 16777216.0f - 0.5f) * 0.05f;
    out[t] = 0.3f * std::sin(2 * M_PI * 220 * t / kRate) * (0.5f + 0.5f * std::sin(2 * M_PI * 2 * t / kRate)) + noise;
  }
  return out;
}

struct StreamLoad {
  std::vector<double> latencies;  // seconds, from the chunk's audio being complete to its answer
  bench::LatencyParts parts;  // where each answered chunk's time went
  int64_t errors = 0, retried = 0;
  std::string first_error;
  double seconds = 0;
};

// `streams` real-time sessions named PREFIX-i for `seconds`, each sending the
// next chunk of `audio` every 32 ms (or as soon as the one before is answered,
// when that is later); each session's last chunk ends it. `at_third` runs
// once, a third of the way in.
StreamLoad RunStreams(const std::string& endpoint, const proto::InferRequest& base, const std::vector<float>& audio,
                      const std::string& prefix, int streams, double seconds,
                      const std::function<void()>& at_third = nullptr) {
  zmq::socket_t socket(net::SharedContext(), zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, 0);
  socket.set(zmq::sockopt::rcvhwm, 0);
  socket.connect(endpoint);
  const int fd = socket.get(zmq::sockopt::fd);
  const int pieces = static_cast<int>(audio.size()) / kChunk;
  std::vector<std::string> inputs(pieces);
  for (int k = 0; k < pieces; ++k) {
    proto::Pcm pcm;
    pcm.set_sample_rate(kRate);
    pcm.mutable_samples()->Add(audio.begin() + k * kChunk, audio.begin() + (k + 1) * kChunk);
    inputs[k] = pcm.SerializeAsString();
  }
  struct Session {
    Clock::time_point due;  // when its next chunk's audio is complete
    bool in_flight = false, done = false;
    int64_t sent = 0;
  };
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<Session> sessions(streams);
  for (int i = 0; i < streams; ++i)  // staggered over one chunk, as independent callers would be
    sessions[i].due = start + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(kChunkSeconds * (i + 1) / streams));
  StreamLoad out;
  bool third_done = !at_third;
  int live = streams;
  while (live > 0) {
    auto now = Clock::now();
    if (!third_done && now - start > (end - start) / 3) {
      at_third();
      third_done = true;
    }
    auto next = now + std::chrono::milliseconds(50);
    for (int i = 0; i < streams; ++i) {
      Session& s = sessions[i];
      if (s.in_flight || s.done) continue;
      if (s.due > now) {
        next = std::min(next, s.due);
        continue;
      }
      proto::InferRequest header = base;
      header.set_id(std::to_string(i));
      header.set_timeout_ms(5000);
      header.mutable_sequence()->set_id(prefix + "-" + std::to_string(i));
      header.mutable_sequence()->set_start(s.sent == 0);
      header.mutable_sequence()->set_end(s.due >= end);
      header.set_input_frame(proto::INPUT_PCM);
      const std::string& input = inputs[s.sent % pieces];
      zmq::message_t frame(input.data(), input.size());
      (void)net::SendProto(socket, header, /*delimiter=*/true, &frame);
      s.in_flight = true;
      ++s.sent;
    }
    // Wait for a reply or the next chunk's time, whichever comes first, to the
    // microsecond: zmq_poll counts milliseconds, and with many streams the next
    // chunk is always due in less than one, so it would spin a core. The
    // socket's descriptor signals that its events may have changed; ZMQ_EVENTS
    // says whether a reply is there.
    if (!(socket.get(zmq::sockopt::events) & ZMQ_POLLIN)) {
      const int64_t wait_ns = std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::nanoseconds>(next - Clock::now()).count());
      pollfd item{fd, POLLIN, 0};
      const timespec timeout{static_cast<time_t>(wait_ns / 1000000000), static_cast<long>(wait_ns % 1000000000)};
      (void)ppoll(&item, 1, &timeout, nullptr);
      if (!(socket.get(zmq::sockopt::events) & ZMQ_POLLIN)) continue;
    }
    while (true) {
      auto message = net::ReceiveDealt(socket);
      if (!message.ok() || !message->has_value()) break;
      proto::InferReply reply;
      if (!net::ParseProto((*message)->header, &reply).ok()) continue;
      const int i = std::atoi(reply.id().c_str());
      if (i < 0 || i >= streams) continue;
      Session& s = sessions[i];
      s.in_flight = false;
      const double latency = std::chrono::duration<double>(Clock::now() - s.due).count();
      out.latencies.push_back(latency);
      out.parts.Add(latency, reply);
      if (reply.code() != "OK") {
        if (out.errors++ == 0) out.first_error = reply.code() + ": " + reply.error();
      }
      if (reply.attempts() > 1) ++out.retried;
      if (s.due >= end) {
        s.done = true;
        --live;
      }
      s.due += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(kChunkSeconds));
    }
  }
  out.seconds = Since(start);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"stream_bench: real-time VAD streams one worker sustains, and a stream's failover under load, against "
               "the per-chunk compute in one process"};
  double seconds = 5;
  app.add_option("--seconds", seconds, "per measurement")->capture_default_str();
  std::vector<int> levels = {25, 50, 100, 150, 200, 300};
  app.add_option("--streams", levels, "concurrent streams to try, e.g. 50,100,150")->delimiter(',');
  int failover_streams = 20;
  app.add_option("--failover-streams", failover_streams, "streams during the failover measurement (0: skip it)")
      ->capture_default_str();
  int width = 64;
  app.add_option("--width", width, "vad_crnn width and hidden size (the synth-vad recipe: 64)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const std::string bin = bench::BinDir();
  const std::string dir = bench::FreshOutputDir("stream");

  models::ModelMetadata meta;
  meta.name = "vad";
  meta.task = "detect";
  meta.model.name = "vad_crnn";
  meta.model.width = width;
  meta.model.hidden = width;
  meta.shape = {200, 40, 1};
  meta.labels = {"speech"};
  torch::manual_seed(1);
  auto model = models::CreateModel(meta.model, meta.shape);
  if (!model.ok()) return Fail(model.status());
  (*model)->eval();
  auto model_dir = models::ExportModel(**model, meta, dir + "/models");
  if (!model_dir.ok()) return Fail(model_dir.status());
  const std::vector<float> audio = Audio();

  // 1. Raw: the session's chunks through StreamChunk in this process, one thread.
  chorus::models::SetComputeThreads(1);
  auto raw = serve::ServedModel::Load(*model_dir);
  if (!raw.ok()) return Fail(raw.status());
  std::vector<double> raw_us;
  {
    std::string state;
    const auto t_end = Clock::now() + std::chrono::duration<double>(std::min(seconds, 3.0));
    for (int64_t k = 0; Clock::now() < t_end; ++k) {
      proto::InferRequest r;
      r.mutable_sequence()->set_id("raw");
      r.set_stream_state(state);
      r.mutable_pcm()->set_sample_rate(kRate);
      const int piece = static_cast<int>(k % (kRate / kChunk));
      r.mutable_pcm()->mutable_samples()->Add(audio.begin() + piece * kChunk, audio.begin() + (piece + 1) * kChunk);
      proto::InferReply reply;
      const auto t0 = Clock::now();
      if (Status s = (*raw)->StreamChunk(r, &reply); !s.ok()) return Fail(s);
      raw_us.push_back(Since(t0) * 1e6);
      state = reply.stream_state();
    }
  }
  // The same with 32 sessions' chunks in each batch, as a busy worker runs them.
  constexpr int kBatch = 32;
  double batched_us = 0;
  {
    std::vector<std::string> states(kBatch);
    int64_t chunks = 0;
    const auto t0 = Clock::now();
    for (int64_t k = 0; Since(t0) < std::min(seconds, 3.0); ++k) {
      std::vector<proto::InferRequest> requests(kBatch);
      std::vector<proto::InferReply> replies(kBatch);
      std::vector<const proto::InferRequest*> in;
      std::vector<proto::InferReply*> out;
      const int piece = static_cast<int>(k % (kRate / kChunk));
      for (int i = 0; i < kBatch; ++i) {
        requests[i].mutable_sequence()->set_id("raw" + std::to_string(i));
        requests[i].set_stream_state(states[i]);
        requests[i].mutable_pcm()->set_sample_rate(kRate);
        requests[i].mutable_pcm()->mutable_samples()->Add(audio.begin() + piece * kChunk,
                                                          audio.begin() + (piece + 1) * kChunk);
        in.push_back(&requests[i]);
        out.push_back(&replies[i]);
      }
      for (const Status& s : (*raw)->StreamChunks(in, out))
        if (!s.ok()) return Fail(s);
      for (int i = 0; i < kBatch; ++i) states[i] = replies[i].stream_state();
      chunks += kBatch;
    }
    batched_us = Since(t0) * 1e6 / chunks;
  }
  double raw_mean = 0;
  for (double v : raw_us) raw_mean += v;
  raw_mean /= std::max<size_t>(1, raw_us.size());
  const double raw_bound = kChunkSeconds * 1e6 / raw_mean, batched_bound = kChunkSeconds * 1e6 / batched_us;
  std::printf("stream_bench: vad_crnn (width %d, hidden %d, %lld parameters), %d ms chunks at %d Hz; this machine: %u "
              "cores\n\n",
              width, width, static_cast<long long>(models::CountParameters(**model)),
              static_cast<int>(kChunkSeconds * 1000), kRate, std::thread::hardware_concurrency());
  std::printf("1. raw per-chunk compute in one process (front end + network + events, state carried as bytes):\n"
              "   one chunk at a time: mean %.0f us, p50 %.0f us, p99 %.0f us -> at most %.0f real-time streams per "
              "core at 100%% CPU\n"
              "   %d sessions' chunks per batch: %.0f us a chunk -> at most %.0f streams per core\n"
              "   (Silero VAD's own compute here: ~175 us a chunk, one at a time; bench/vad_bench)\n\n",
              raw_mean, Percentile(raw_us, 0.5), Percentile(raw_us, 0.99), raw_bound, kBatch, batched_us,
              batched_bound);

  bench::Coordinator coordinator;
  bench::CoordinatorOptions options;
  options.extra_serving = "max_sessions: 4096";
  if (Status s = coordinator.Start(bin, dir, options); !s.ok()) return Fail(s);

  // 2. Real-time streams on one worker with one intra-op thread.
  if (Status s = coordinator.Deploy(bench::Deployment("vad", *model_dir, "cpu", 8, 0, 1, 1, 1, 1e9), 1); !s.ok())
    return Fail(s);
  const proto::InferRequest base = coordinator.Request("vad");
  (void)RunStreams(coordinator.client_endpoint(), base, audio, "warm", 4, 1.0);
  std::printf("2. concurrent real-time streams through the coordinator, one worker (1 intra-op thread); latency from "
              "a chunk's audio being complete to its answer\n");
  std::printf("   %8s %10s %8s %8s %8s %8s %-13s %s\n", "streams", "chunks/s", "p50 ms", "p99 ms", "max ms", "errors",
              "p99 <= 20 ms", "p99 ms of: outside broker / routing / worker queue / compute");
  int sustained = 0;
  for (int n : levels) {
    StreamLoad load = RunStreams(coordinator.client_endpoint(), base, audio, "s" + std::to_string(n), n, seconds);
    const double p99 = Percentile(load.latencies, 0.99) * 1e3;
    const bool ok = p99 <= 20 && load.errors == 0;
    if (ok) sustained = std::max(sustained, n);
    std::printf("   %8d %10.0f %8.2f %8.2f %8.2f %8lld %-13s %.2f / %.2f / %.2f / %.2f%s\n", n,
                load.latencies.size() / load.seconds, Percentile(load.latencies, 0.5) * 1e3, p99,
                Percentile(load.latencies, 1.0) * 1e3, static_cast<long long>(load.errors), ok ? "yes" : "no",
                Percentile(load.parts.outside, 0.99) * 1e3, Percentile(load.parts.routing, 0.99) * 1e3,
                Percentile(load.parts.queued, 0.99) * 1e3, Percentile(load.parts.compute, 0.99) * 1e3,
                load.first_error.empty() ? "" : ("  (" + load.first_error + ")").c_str());
  }
  std::printf("   sustained: %d streams on one worker core with p99 <= 20 ms (goal >= 150: %s); the raw batched "
              "compute bounds it at %.0f (%.0f%% of that); the client and the coordinator share this machine's "
              "cores with the worker\n\n",
              sustained, sustained >= 150 ? "met" : "NOT met", batched_bound, 100.0 * sustained / batched_bound);
  (void)coordinator.Undeploy("vad");

  // 3. Failover: two workers, one killed a third of the way in.
  if (failover_streams <= 0) return 0;
  if (Status s = coordinator.Deploy(bench::Deployment("vad2", *model_dir, "cpu", 8, 0, 1, 2, 2, 1e9), 2); !s.ok())
    return Fail(s);
  auto status = coordinator.Serving();
  if (!status.ok()) return Fail(status.status());
  int victim = 0;
  for (const auto& w : status->workers())
    if (w.model() == "vad2" && w.pid() > 0) victim = w.pid();
  if (victim <= 0) return Fail(Internal("no worker pid to kill"));
  const double window = std::max(6.0, seconds);
  StreamLoad load = RunStreams(coordinator.client_endpoint(), coordinator.Request("vad2"), audio, "f", failover_streams,
                               window, [victim] { kill(victim, SIGKILL); });
  std::printf("3. failover under load: %d real-time streams on 2 workers for %.0f s, one worker killed (SIGKILL) at "
              "%.0f s\n   chunks answered %zu, failed %lld (goal 0: %s), sent again to the other worker %lld, "
              "longest chunk latency %.0f ms (p99 %.1f ms)%s\n",
              failover_streams, window, window / 3, load.latencies.size(), static_cast<long long>(load.errors),
              load.errors == 0 ? "met" : "NOT met", static_cast<long long>(load.retried),
              Percentile(load.latencies, 1.0) * 1e3, Percentile(load.latencies, 0.99) * 1e3,
              load.first_error.empty() ? "" : ("  (" + load.first_error + ")").c_str());
  (void)coordinator.Undeploy("vad2");  // its surviving worker ends now, not when it gives up on the broker
  return 0;
}
