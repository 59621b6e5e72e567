#include "coordinator/cli/serve_commands.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/net/rpc_client.h"
#include "common/proto/infer_frames.h"
#include "common/proto/serve.pb.h"
#include "common/tasks/outputs.h"
#include "common/util/fs.h"
#include "coordinator/client/scale_policy.h"
#include "coordinator/cli/job_commands.h"

namespace chorus::cli {

namespace fs = std::filesystem;

namespace {

// "10s", "500ms", "2m" -> seconds.
Result<double> ParseDuration(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  std::string unit(end ? end : "");
  if (!(v > 0)) return InvalidArgument("--duration '" + text + "' must be positive, e.g. 10s");
  if (unit == "s" || unit.empty()) return v;
  if (unit == "ms") return v / 1000;
  if (unit == "m") return v * 60;
  return InvalidArgument("--duration '" + text + "': unit must be ms, s or m");
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(std::ceil(p * v.size())) - (p > 0 ? 1 : 0));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

void ServeCommands::Register(CLI::App& app) {
  const proto::ScalePolicy policy = coordinator::DefaultScalePolicy();
  min_ = policy.min_workers();
  max_ = policy.max_workers();
  target_ = policy.target_ongoing();
  up_delay_ = policy.scale_up_delay_s();
  down_delay_ = policy.scale_down_delay_s();
  deploy_ = app.add_subcommand("deploy", "Serve a model: a version folder (models/NAME/VERSION) or a finished "
                                         "training job's export, with autoscaled workers. Deploying another version under a "
                                         "deployed name is a rolling update (new workers ready first, then the old "
                                         "ones drain)");
  deploy_->add_option("source", source_, "model version folder, or a job id")->required();
  deploy_->add_option("--name", name_, "the name clients use")->required();
  deploy_->add_option("--min", min_, "fewest workers (0: scale to zero when idle)")->capture_default_str();
  deploy_->add_option("--max", max_, "most workers")->capture_default_str();
  deploy_->add_option("--target", target_, "ongoing requests per worker to aim at")->capture_default_str();
  deploy_->add_option("--scale-up-delay", up_delay_, "seconds above target before adding workers")
      ->capture_default_str();
  deploy_->add_option("--scale-down-delay", down_delay_, "seconds below target before draining one")
      ->capture_default_str();
  deploy_->add_option("--launcher", launcher_, "local or slurm")->capture_default_str();
  deploy_->add_option("--max-batch", max_batch_, "dynamic batching: largest batch")->capture_default_str();
  deploy_->add_option("--max-delay-us", max_delay_us_, "dynamic batching: longest wait for a batch to fill (0: batch what already waits)")
      ->capture_default_str();
  deploy_->add_option("--threads", threads_, "intra-op threads per worker")->capture_default_str();
  deploy_->add_option("--device", device_,
                      "where workers run batches: cpu, cuda or cuda:N (on Slurm a GPU device asks for one GPU per "
                      "worker)")
      ->capture_default_str();

  undeploy_ = app.add_subcommand("undeploy", "Stop serving a model (its workers drain first; a worker started by hand unloads it in place)");
  undeploy_->add_option("name", name_, "model name")->required();

  models_ = app.add_subcommand("models", "Served models: workers, queue, answers");
  models_->add_option("--output", output_, "table or json")->check(CLI::IsMember({"table", "json"}));
  workers_ = app.add_subcommand("workers", "Inference workers and their load");
  workers_->add_option("--output", output_, "table or json")->check(CLI::IsMember({"table", "json"}));

  scale_ = app.add_subcommand("scale", "Change a deployment's worker bounds");
  scale_->add_option("name", name_, "model name")->required();
  scale_->add_option("--min", min_, "fewest workers")->required();
  scale_->add_option("--max", max_, "most workers")->required();

  infer_ = app.add_subcommand("infer", "Run audio files through a served model; prints its outputs (a keyword "
                                       "spotter's top labels, a detector's segments, ...)");
  infer_->add_option("name", name_, "model name")->required();
  infer_->add_option("files", files_, "WAV (or FLAC, ...) files")->required()->check(CLI::ExistingFile);
  infer_->add_option("--top-k", top_k_, "labels to print")->capture_default_str();
  infer_->add_option("--timeout-ms", timeout_ms_, "deadline per request")->capture_default_str();

  // Options not given stay NaN and are not sent: the model's own settings apply.
  for (const char* key : {"threshold", "min_speech_ms", "min_silence_ms", "speech_pad_ms"})
    parameters_[key] = std::nan("");
  vad_ = app.add_subcommand("vad", "Speech segments of audio files from a served voice-activity (detect) model");
  vad_->add_option("name", name_, "model name")->required();
  vad_->add_option("files", files_, "WAV (or FLAC, ...) files, up to 30 minutes each")->required()
      ->check(CLI::ExistingFile);
  vad_->add_option("--threshold", parameters_["threshold"], "speech probability that starts speech (default: the "
                                                            "model's, chosen on its validation data)");
  vad_->add_option("--min-speech-ms", parameters_["min_speech_ms"], "shorter speech is dropped");
  vad_->add_option("--min-silence-ms", parameters_["min_silence_ms"], "a pause must last this long to end speech");
  vad_->add_option("--speech-pad-ms", parameters_["speech_pad_ms"], "padding added to both ends of a segment");
  vad_->add_option("--output", output_, "table or json")->check(CLI::IsMember({"table", "json"}));
  vad_->add_option("--timeout-ms", timeout_ms_, "deadline per request")->capture_default_str();

  bench_ = app.add_subcommand("bench", "Load a served model at several concurrencies (closed loop, like "
                                       "perf_analyzer): throughput, latency percentiles, server-side split");
  bench_->add_option("name", name_, "model name")->required();
  bench_->add_option("--concurrency", concurrency_, "concurrent clients, e.g. 1,8,32")->delimiter(',');
  bench_->add_option("--duration", duration_, "per concurrency, e.g. 10s")->capture_default_str();
  bench_->add_option("--file", file_, "audio to send (default: one second of a tone)")->check(CLI::ExistingFile);
}

std::optional<int> ServeCommands::Run() {
  if (deploy_->parsed()) return Deploy();
  if (undeploy_->parsed()) return Undeploy();
  if (models_->parsed()) return Models();
  if (workers_->parsed()) return Workers();
  if (scale_->parsed()) return Scale();
  if (infer_->parsed()) return Infer();
  if (vad_->parsed()) return Vad();
  if (bench_->parsed()) return Bench();
  return std::nullopt;
}

int ServeCommands::Deploy() {
  auto client = JobClient::Connect(connect_);
  if (!client.ok()) return FailWith(client.status());
  proto::Request r;
  proto::Deployment* d = r.mutable_deploy()->mutable_deployment();
  if (!source_.empty() && source_.find_first_not_of("0123456789") == std::string::npos) {
    r.mutable_deploy()->set_job_id(std::stoll(source_));
  } else {
    if (!fs::is_directory(source_)) return FailWith(InvalidArgument(source_ + ": no such model folder"));
    d->set_model_dir(fs::absolute(source_).lexically_normal().string());
  }
  d->set_name(name_);
  d->set_launcher(launcher_);
  d->set_max_batch(max_batch_);
  d->set_max_delay_us(max_delay_us_);
  d->set_threads(threads_);
  d->set_device(device_);
  proto::ScalePolicy* p = d->mutable_policy();
  p->set_min_workers(min_);
  p->set_max_workers(max_);
  p->set_target_ongoing(target_);
  p->set_scale_up_delay_s(up_delay_);
  p->set_scale_down_delay_s(down_delay_);
  auto reply = client->Call(r);
  if (!reply.ok()) return FailWith(reply.status());
  std::printf("deployed %s from %s: %d..%d workers on %s (%s)\n", reply->deployment().name().c_str(),
              reply->deployment().model_dir().c_str(), min_, max_, launcher_.c_str(),
              reply->deployment().device().c_str());
  return 0;
}

int ServeCommands::Undeploy() {
  auto client = JobClient::Connect(connect_);
  if (!client.ok()) return FailWith(client.status());
  proto::Request r;
  r.set_undeploy(name_);
  auto reply = client->Call(r);
  if (!reply.ok()) return FailWith(reply.status());
  std::printf("%s: undeployed; its workers are draining\n", name_.c_str());
  return 0;
}

int ServeCommands::Scale() {
  auto client = JobClient::Connect(connect_);
  if (!client.ok()) return FailWith(client.status());
  proto::Request r;
  r.mutable_scale()->set_name(name_);
  r.mutable_scale()->set_min_workers(min_);
  r.mutable_scale()->set_max_workers(max_);
  auto reply = client->Call(r);
  if (!reply.ok()) return FailWith(reply.status());
  std::printf("%s: %d..%d workers\n", name_.c_str(), min_, max_);
  return 0;
}

int ServeCommands::Models() {
  auto serving = ConnectServing(connect_);
  if (!serving.ok()) return FailWith(serving.status());
  const proto::ServingStatus* s = &serving->status;
  if (output_ == "json") {
    std::cout << ToJson(*s) << std::endl;
    return 0;
  }
  std::printf("%-20s %-8s %-8s %-9s %-7s %-8s %-10s %-8s %s\n", "MODEL", "WORKERS", "DESIRED", "MIN..MAX", "QUEUED",
              "ONGOING", "OK", "ERRORS", "FROM");
  for (const auto& m : s->models()) {
    const auto& d = m.deployment();
    std::string bounds = d.model_dir().empty() ? "manual"
                                               : std::to_string(d.policy().min_workers()) + ".." +
                                                     std::to_string(d.policy().max_workers());
    std::printf("%-20s %-8d %-8d %-9s %-7d %-8d %-10lld %-8lld %s\n", d.name().c_str(), m.workers(), m.desired(),
                bounds.c_str(), m.queued(), m.ongoing(), (long long)m.answered_ok(), (long long)m.answered_error(),
                d.model_dir().c_str());
  }
  if (s->models_size() == 0) std::printf("(no models; `chorus deploy` serves one)\n");
  std::printf("clients: %s   HTTP: %s\n", s->client_endpoint().c_str(), s->http().c_str());
  return 0;
}

int ServeCommands::Workers() {
  auto serving = ConnectServing(connect_);
  if (!serving.ok()) return FailWith(serving.status());
  const proto::ServingStatus* s = &serving->status;
  if (output_ == "json") {
    std::cout << ToJson(*s) << std::endl;
    return 0;
  }
  std::printf("%-40s %-16s %-9s %-8s %-9s %s\n", "WORKER", "MODEL", "STATE", "ONGOING", "CAPACITY", "PID");
  for (const auto& w : s->workers())
    std::printf("%-40s %-16s %-9s %-8d %-9d %d\n", w.id().c_str(), w.model().c_str(), w.state().c_str(), w.ongoing(),
                w.capacity(), w.pid());
  if (s->workers_size() == 0) std::printf("(no workers)\n");
  return 0;
}

Result<proto::InferReply> ServeCommands::Send(net::RpcClient& broker, const std::string& token,
                                              const std::string& file) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(file));
  proto::InferRequest r;
  r.set_id(file);
  r.set_token(token);
  r.set_model(name_);
  r.set_wav(bytes);
  r.set_top_k(top_k_);
  r.set_timeout_ms(timeout_ms_);
  for (const auto& [key, value] : parameters_)
    if (!std::isnan(value)) (*r.mutable_parameters())[key] = value;
  const std::string input = proto::TakeInput(&r);
  proto::InferReply reply;
  RETURN_IF_ERROR(broker.Call(r, &reply, &input));
  return reply;
}

namespace {

// "  yes 0.912  no 0.031" for labels with scores; "name [shape] v v v ..." otherwise.
std::string FormatOutputs(const proto::InferReply& reply) {
  const proto::NamedTensor* labels = tasks::FindOutput(reply, "labels");
  const proto::NamedTensor* scores = tasks::FindOutput(reply, "scores");
  std::string out;
  char buf[64];
  if (labels && scores && labels->bytes_size() == scores->fp32_size()) {
    for (int i = 0; i < labels->bytes_size(); ++i) {
      std::snprintf(buf, sizeof buf, "  %s %.3f", labels->bytes(i).c_str(), scores->fp32(i));
      out += buf;
    }
  }
  for (const auto& t : reply.outputs()) {
    if ((labels && scores) && (&t == labels || &t == scores)) continue;
    out += "  " + t.name() + " [";
    for (int d = 0; d < t.shape_size(); ++d) out += (d ? "," : "") + std::to_string(t.shape(d));
    out += "]";
    const int n = t.datatype() == "BYTES" ? t.bytes_size() : t.fp32_size();
    for (int i = 0; i < std::min(n, 8); ++i) {
      if (t.datatype() == "BYTES") out += " " + t.bytes(i);
      else std::snprintf(buf, sizeof buf, " %.3g", t.fp32(i)), out += buf;
    }
    if (n > 8) out += " ...";
  }
  return out;
}

}  // namespace

int ServeCommands::Infer() {
  auto serving = ConnectServing(connect_);
  if (!serving.ok()) return FailWith(serving.status());
  net::RpcClient broker(serving->Broker(std::chrono::milliseconds(timeout_ms_ + 2000)));
  int failures = 0;
  for (const auto& file : files_) {
    auto reply = Send(broker, serving->client.token(), file);
    if (!reply.ok()) return FailWith(reply.status());
    if (reply->code() != "OK") {
      std::printf("%s: %s %s\n", file.c_str(), reply->code().c_str(), reply->error().c_str());
      ++failures;
      continue;
    }
    std::printf("%s:%s   (version %lld, queue %lld us, compute %lld us, batch %d, %s)\n", file.c_str(),
                FormatOutputs(*reply).c_str(), (long long)reply->version(), (long long)reply->queue_us(), (long long)reply->compute_us(), reply->batch_size(),
                reply->worker().c_str());
  }
  return failures == 0 ? 0 : 1;
}

int ServeCommands::Vad() {
  auto serving = ConnectServing(connect_);
  if (!serving.ok()) return FailWith(serving.status());
  net::RpcClient broker(serving->Broker(std::chrono::milliseconds(timeout_ms_ + 2000)));
  nlohmann::json all = nlohmann::json::array();
  int failures = 0;
  for (const auto& file : files_) {
    auto reply = Send(broker, serving->client.token(), file);
    if (!reply.ok()) return FailWith(reply.status());
    if (reply->code() != "OK") {
      if (output_ == "json") all.push_back({{"file", file}, {"error", reply->code() + ": " + reply->error()}});
      else std::printf("%s: %s %s\n", file.c_str(), reply->code().c_str(), reply->error().c_str());
      ++failures;
      continue;
    }
    const proto::NamedTensor* segments = tasks::FindOutput(*reply, "segments");
    if (!segments) {
      return FailWith(InvalidArgument("model '" + name_ + "' answered without speech segments: it is not a " +
                                      "voice-activity (detect) model; use chorus infer"));
    }
    nlohmann::json list = nlohmann::json::array();
    for (int i = 0; i + 1 < segments->fp32_size(); i += 2) list.push_back({segments->fp32(i), segments->fp32(i + 1)});
    if (output_ == "json") {
      all.push_back({{"file", file}, {"segments", list}});
      continue;
    }
    std::printf("%s: %d speech segment(s)\n", file.c_str(), segments->fp32_size() / 2);
    for (const auto& s : list) std::printf("  %8.2f s - %8.2f s\n", s[0].get<double>(), s[1].get<double>());
  }
  if (output_ == "json") std::cout << all.dump(2) << std::endl;
  return failures == 0 ? 0 : 1;
}

int ServeCommands::Bench() {
  auto seconds = ParseDuration(duration_);
  if (!seconds.ok()) return FailWith(seconds.status());
  auto serving = ConnectServing(connect_);
  if (!serving.ok()) return FailWith(serving.status());
  JobClient* client = &serving->client;
  proto::InferRequest base;
  base.set_token(client->token());
  base.set_model(name_);
  base.set_timeout_ms(timeout_ms_);
  if (!file_.empty()) {
    auto bytes = ReadFile(file_);
    if (!bytes.ok()) return FailWith(bytes.status());
    base.set_wav(*bytes);
  } else {
    proto::Pcm* pcm = base.mutable_pcm();
    pcm->set_sample_rate(16000);
    for (int t = 0; t < 16000; ++t) pcm->add_samples(0.3f * std::sin(2 * M_PI * 440 * t / 16000.0));
  }
  std::printf("%s: closed-loop load, %.0f s per concurrency\n", name_.c_str(), *seconds);
  std::printf("%-11s %10s %9s %9s %9s %10s %10s %10s %8s\n", "concurrency", "infer/s", "p50 ms", "p90 ms", "p99 ms",
              "queue us", "compute us", "other us", "errors");
  for (int c : concurrency_) {
    if (c < 1) return FailWith(InvalidArgument("--concurrency values must be positive"));
    std::vector<std::vector<double>> latencies(c);
    std::vector<std::vector<double>> answered_at(c);  // seconds since start, per client
    std::vector<double> queue(c), compute(c), broker(c);
    std::atomic<int64_t> errors{0};
    std::mutex first_error_mutex;
    std::string first_error;  // what the first failed request was told
    std::vector<std::thread> threads;
    const auto start = std::chrono::steady_clock::now();
    const auto end = start + std::chrono::duration<double>(*seconds);
    for (int i = 0; i < c; ++i)
      threads.emplace_back([&, i] {
        net::RpcClient rpc(serving->Broker(std::chrono::milliseconds(timeout_ms_ + 2000)));
        proto::InferRequest header = base;  // encoded once, like perf_analyzer
        const std::string input = proto::TakeInput(&header);
        const std::string bytes = header.SerializeAsString();
        proto::InferReply reply;
        while (std::chrono::steady_clock::now() < end) {
          auto t0 = std::chrono::steady_clock::now();
          const Status sent = rpc.CallSerialized(bytes, &reply, &input);
          if (!sent.ok() || reply.code() != "OK") {
            if (errors++ == 0) {
              std::lock_guard<std::mutex> lock(first_error_mutex);
              first_error = sent.ok() ? reply.code() + ": " + reply.error() : sent.ToString();
            }
            continue;
          }
          const auto t1 = std::chrono::steady_clock::now();
          latencies[i].push_back(std::chrono::duration<double>(t1 - t0).count());
          answered_at[i].push_back(std::chrono::duration<double>(t1 - start).count());
          queue[i] += reply.queue_us();
          compute[i] += reply.compute_us();
          broker[i] += std::max<int64_t>(0, reply.broker_us() - reply.queue_us() - reply.compute_us());
        }
      });
    for (auto& t : threads) t.join();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> all;
    double q = 0, k = 0, b = 0;
    for (int i = 0; i < c; ++i) {
      all.insert(all.end(), latencies[i].begin(), latencies[i].end());
      q += queue[i];
      k += compute[i];
      b += broker[i];
    }
    const double n = std::max<double>(1, all.size());
    std::printf("%-11d %10.1f %9.2f %9.2f %9.2f %10.0f %10.0f %10.0f %8lld\n", c, all.size() / elapsed,
                1e3 * Percentile(all, 0.5), 1e3 * Percentile(all, 0.9), 1e3 * Percentile(all, 0.99), q / n, k / n,
                b / n, (long long)errors.load());
    // The longest the model went without answering anyone (a rolling update,
    // a failover, a worker lost): from the start, between answers, to the end.
    std::vector<double> times;
    for (const auto& t : answered_at) times.insert(times.end(), t.begin(), t.end());
    std::sort(times.begin(), times.end());
    double gap = times.empty() ? elapsed : std::max(times.front(), elapsed - times.back());
    for (size_t j = 1; j < times.size(); ++j) gap = std::max(gap, times[j] - times[j - 1]);
    std::printf("  longest gap between answers: %.1f ms\n", 1e3 * gap);
    if (!first_error.empty()) std::fprintf(stderr, "the first failed request: %s\n", first_error.c_str());
    std::fflush(stdout);
  }
  std::printf("queue: waiting in the worker's batcher; compute: front end + forward of the batch; other: broker, "
              "network, framing (server side)\n");
  return 0;
}

}  // namespace chorus::cli
