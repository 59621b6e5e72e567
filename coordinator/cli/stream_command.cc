#include "coordinator/cli/stream_command.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/audio/wav_io.h"
#include "common/net/rpc_client.h"
#include "common/proto/infer_frames.h"
#include "common/proto/serve.pb.h"
#include "common/tasks/outputs.h"
#include "coordinator/cli/job_commands.h"

namespace chorus::cli {

namespace {

using Clock = std::chrono::steady_clock;

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

void StreamCommand::Register(CLI::App& app) {
  command_ = app.add_subcommand("stream",
                                "Play an audio file to a served streaming model as a live stream, chunk by chunk "
                                "in one session, and print its events as they come: speech starting and ending "
                                "(a voice-activity detector), keywords with their times (a keyword spotter, "
                                "scored on a sliding window). The session survives the death of the worker "
                                "serving it");
  command_->add_option("name", name_, "model name")->required();
  command_->add_option("file", file_, "WAV (or FLAC, ...) file")->required()->check(CLI::ExistingFile);
  command_->add_option("--chunk-ms", chunk_ms_, "audio per chunk")->capture_default_str()->check(CLI::Range(1.0, 10000.0));
  command_->add_flag("--real-time", real_time_, "send each chunk when its audio would have been recorded (default: "
                                                "as soon as the previous one is answered)");
  command_->add_option("--sequence-id", sequence_id_, "the session's name (default: chorus-stream-PID)");
  command_->add_option("--output", output_, "table (events as they come) or json (at the end: events, keywords, "
                                            "every frame's speech probability, latencies)")
      ->check(CLI::IsMember({"table", "json"}));
  command_->add_option("--timeout-ms", timeout_ms_, "deadline per chunk")->capture_default_str();
  command_->add_option("--param", params_,
                       "a task parameter for every chunk, KEY=VALUE (repeatable): a keyword spotter takes "
                       "threshold, smooth, refractory_ms, peak_ms; a voice-activity detector threshold, min_silence_ms, "
                       "speech_pad_ms (chorus models shows a model's own settings)");
}

std::optional<int> StreamCommand::Run() {
  if (!command_->parsed()) return std::nullopt;
  return Stream();
}

int StreamCommand::Stream() {
  std::map<std::string, double> parameters;
  for (const std::string& p : params_) {
    const size_t eq = p.find('=');
    char* end = nullptr;
    const std::string value = eq == std::string::npos ? "" : p.substr(eq + 1);
    const double v = value.empty() ? 0 : std::strtod(value.c_str(), &end);
    if (eq == std::string::npos || eq == 0 || value.empty() || *end != '\0' || !std::isfinite(v))
      return FailWith(InvalidArgument("--param '" + p + "' must be KEY=NUMBER, e.g. threshold=0.6"));
    parameters[p.substr(0, eq)] = v;
  }
  auto serving = ConnectServing(connect_);
  if (!serving.ok()) return FailWith(serving.status());
  const proto::ServingModel* model = nullptr;
  for (const auto& m : serving->status.models())
    if (m.deployment().name() == name_) model = &m;
  if (!model) return FailWith(NotFound("no model '" + name_ + "' is served (chorus models lists them)"));
  if (model->sample_rate() <= 0)
    return FailWith(Unavailable("model '" + name_ + "' has no worker yet to say what audio it takes; retry shortly"));
  if (!model->streams())
    return FailWith(InvalidArgument("model '" + name_ + "' does not stream (voice-activity and keyword models "
                                    "do); use chorus infer"));
  const int rate = model->sample_rate();
  audio::ReadOptions read;
  read.target_sample_rate = rate;
  auto wave = audio::ReadAudio(file_, read);
  if (!wave.ok()) return FailWith(wave.status());
  const size_t chunk = std::max<size_t>(1, static_cast<size_t>(chunk_ms_ * rate / 1000.0));
  const size_t total = wave->samples.size();
  const size_t chunks = std::max<size_t>(1, (total + chunk - 1) / chunk);
  const std::string id = sequence_id_.empty() ? "chorus-stream-" + std::to_string(getpid()) : sequence_id_;

  net::RpcClient broker(serving->Broker(std::chrono::milliseconds(timeout_ms_ + 2000)));
  const bool table = output_ == "table";
  if (table)
    std::printf("streaming %s (%.2f s at %d Hz) to %s in %zu chunks of %g ms%s\n", file_.c_str(),
                static_cast<double>(total) / rate, rate, name_.c_str(), chunks, chunk_ms_,
                real_time_ ? ", in real time" : "");
  nlohmann::json events = nlohmann::json::array();
  nlohmann::json keywords = nlohmann::json::array();
  std::vector<double> latency_ms;
  std::set<std::string> workers;
  int64_t frames = 0;
  std::vector<float> probabilities;  // json: every frame's, in order
  int retried = 0;  // chunks answered by another worker after the first was lost
  const auto start = Clock::now();
  for (size_t i = 0; i < chunks; ++i) {
    const size_t from = i * chunk, to = std::min(total, from + chunk);
    if (real_time_) std::this_thread::sleep_until(start + std::chrono::microseconds(to * 1000000 / rate));
    proto::InferRequest r;
    r.set_id(std::to_string(i));
    r.set_token(serving->client.token());
    r.set_model(name_);
    r.set_timeout_ms(timeout_ms_);
    r.mutable_sequence()->set_id(id);
    r.mutable_parameters()->insert(parameters.begin(), parameters.end());
    r.mutable_sequence()->set_start(i == 0);
    r.mutable_sequence()->set_end(i + 1 == chunks);
    r.mutable_pcm()->set_sample_rate(rate);
    r.mutable_pcm()->mutable_samples()->Add(wave->samples.begin() + from, wave->samples.begin() + to);
    const std::string input = proto::TakeInput(&r);
    proto::InferReply reply;
    const auto sent = Clock::now();
    if (Status s = broker.Call(r, &reply, &input); !s.ok())
      return FailWith(s.WithContext("chunk " + std::to_string(i + 1) + " of " + std::to_string(chunks)));
    latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
    if (reply.code() != "OK") {
      std::fprintf(stderr, "chunk %zu of %zu: %s %s\n", i + 1, chunks, reply.code().c_str(), reply.error().c_str());
      return 1;
    }
    workers.insert(reply.worker());
    if (reply.attempts() > 1) ++retried;
    if (const proto::NamedTensor* p = tasks::FindOutput(reply, "speech_probability")) {
      frames += p->fp32_size();
      if (!table) probabilities.insert(probabilities.end(), p->fp32().begin(), p->fp32().end());
    }
    const proto::NamedTensor* words = tasks::FindOutput(reply, "keywords");
    const proto::NamedTensor* times = tasks::FindOutput(reply, "keyword_times");
    const proto::NamedTensor* scores = tasks::FindOutput(reply, "keyword_scores");
    for (int k = 0; words && times && scores && k < words->bytes_size() && k < times->fp32_size() &&
                    k < scores->fp32_size();
         ++k) {
      keywords.push_back(
          {{"keyword", words->bytes(k)}, {"seconds", times->fp32(k)}, {"score", scores->fp32(k)}, {"chunk", i}});
      if (table) {
        std::printf("%9.3f s  keyword %s (%.2f)\n", times->fp32(k), words->bytes(k).c_str(), scores->fp32(k));
        std::fflush(stdout);
      }
    }
    const proto::NamedTensor* e = tasks::FindOutput(reply, "events");
    for (int k = 0; e && k + 1 < e->fp32_size(); k += 2) {
      const bool starts = e->fp32(k + 1) > 0.5f;
      events.push_back({{"seconds", e->fp32(k)}, {"event", starts ? "start" : "end"}, {"chunk", i}});
      if (table) {
        std::printf("%9.3f s  speech %s\n", e->fp32(k), starts ? "starts" : "ends");
        std::fflush(stdout);
      }
    }
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  const double p50 = Quantile(latency_ms, 0.5), p99 = Quantile(latency_ms, 0.99),
               longest = *std::max_element(latency_ms.begin(), latency_ms.end());
  std::string served_by;
  for (const auto& w : workers) served_by += (served_by.empty() ? "" : ", ") + w;
  if (table) {
    std::printf("%zu chunks, %lld frames in %.2f s; chunk latency p50 %.2f ms, p99 %.2f ms, longest %.2f ms; "
                "served by %s%s\n",
                chunks, static_cast<long long>(frames), wall, p50, p99, longest, served_by.c_str(),
                retried ? (" (" + std::to_string(retried) + " chunk(s) sent again after a worker was lost)").c_str()
                        : "");
  } else {
    std::cout << nlohmann::json{{"model", name_},
                                {"sequence_id", id},
                                {"chunks", chunks},
                                {"frames", frames},
                                {"events", events},
                                {"keywords", keywords},
                                {"speech_probability", probabilities},
                                {"seconds", wall},
                                {"latency_ms", {{"p50", p50}, {"p99", p99}, {"max", longest}}},
                                {"retried_chunks", retried},
                                {"workers", std::vector<std::string>(workers.begin(), workers.end())}}
                     .dump(2)
              << std::endl;
  }
  return 0;
}

}  // namespace chorus::cli
