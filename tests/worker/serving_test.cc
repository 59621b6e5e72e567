// Serving end to end in one process: a real Broker, two real ServeLoop
// workers and the HTTP gateway on loopback sockets, against the model run
// directly. Every thread started here is joined before the test ends.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <functional>
#include <future>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#include <zmq.hpp>

#include "common/models/model_bundle.h"
#include "common/net/rpc_client.h"
#include "common/net/zmq_channel.h"
#include "common/proto/infer_frames.h"
#include "common/tasks/outputs.h"
#include "coordinator/credentials.h"
#include "coordinator/serving/broker.h"
#include "coordinator/serving/gateway.h"
#include "tests/common/audio/audio_test_util.h"
#include "worker/serve/serve_loop.h"
#include "worker/serve/served_model.h"

namespace chorus::serve {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr const char* kToken = "serving-test-token";

// A classify reply's outputs: labels, scores, logits.
std::string TopLabel(const proto::InferReply& r) {
  const proto::NamedTensor* t = tasks::FindOutput(r, "labels");
  return t && t->bytes_size() > 0 ? t->bytes(0) : "";
}
int NumLabels(const proto::InferReply& r) {
  const proto::NamedTensor* t = tasks::FindOutput(r, "labels");
  return t ? t->bytes_size() : 0;
}
float TopScore(const proto::InferReply& r) {
  const proto::NamedTensor* t = tasks::FindOutput(r, "scores");
  return t && t->fp32_size() > 0 ? t->fp32(0) : -1;
}
std::vector<float> Logits(const proto::InferReply& r) {
  const proto::NamedTensor* t = tasks::FindOutput(r, "logits");
  return t ? std::vector<float>(t->fp32().begin(), t->fp32().end()) : std::vector<float>();
}

proto::InferRequest Tone(int i) {
  proto::InferRequest r;
  r.set_model("kws");
  r.set_token(kToken);
  r.set_id("r" + std::to_string(i));
  r.set_top_k(3);
  r.set_want_logits(true);
  proto::Pcm* pcm = r.mutable_pcm();
  pcm->set_sample_rate(16000);
  for (int t = 0; t < 16000; ++t)
    pcm->add_samples(0.3f * std::sin(2 * M_PI * (200 + 97 * i) * t / 16000.0) + 0.01f * ((t * (i + 7)) % 13 - 6));
  return r;
}

// Sends `bytes` on a fresh loopback connection, ends its side (whatever it
// announced, nothing more comes) and returns what the server answers within 5 s.
std::string RawHttp(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "connect failed";
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  (void)!send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  close(fd);
  return answer;
}

class ServingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = fs::temp_directory_path() / ("chorus_serving_test_" + std::to_string(::getpid()));
    fs::remove_all(repo_);
    models::ModelMetadata meta;
    meta.name = "kws";
    meta.model.name = "tc_resnet";
    meta.model.width = 8;
    meta.shape = {98, 40, 4};
    meta.labels = {"_silence_", "_unknown_", "yes", "no"};
    torch::manual_seed(5);
    auto model = models::CreateModel(meta.model, meta.shape).value();
    model->eval();
    dir_ = models::ExportModel(*model, meta, repo_.string()).value();
  }
  void TearDown() override {
    stop_ = true;
    for (auto& t : threads_) t.join();
    fs::remove_all(repo_);
  }

  void StartBroker(coordinator::BrokerOptions o = {}) {
    o.credentials = &credentials_;
    o.worker_liveness = 1000ms;
    o.heartbeat_interval = 100ms;
    broker_ = std::move(coordinator::Broker::Bind(o).value());
    threads_.emplace_back([this] { broker_->Run(stop_); });
  }
  void StartWorker(const std::string& id, int max_batch = 4, std::string dir = "", net::CurveClient curve = {}) {
    ServeOptions o;
    o.broker = broker_->worker_endpoint();
    o.token = kToken;
    o.curve = std::move(curve);
    o.worker_id = id;
    o.model_dirs = {dir.empty() ? dir_ : dir};
    o.batching.max_batch_size = max_batch;
    o.batching.max_queue_delay = 2000us;
    o.heartbeat_interval = 100ms;
    auto loop = ServeLoop::Create(o);
    ASSERT_TRUE(loop.ok()) << loop.status().ToString();
    threads_.emplace_back([this, l = std::shared_ptr<ServeLoop>(std::move(*loop))] { (void)l->Run(stop_); });
  }
  void WaitForWorkers(int n) {
    for (int i = 0; i < 200; ++i) {
      if (static_cast<int>(broker_->Snapshot().workers.size()) >= n) return;
      std::this_thread::sleep_for(20ms);
    }
    FAIL() << "workers did not register";
  }
  // Options for a gateway on a free loopback port in front of the broker.
  coordinator::GatewayOptions Gateway() {
    coordinator::GatewayOptions go;
    go.port = 0;
    go.token = kToken;
    go.credentials = &credentials_;
    return go;
  }
  // A DEALER on the broker's worker socket that has said hello for the
  // test's model with `token` and `capacity`, and answers nothing.
  // `must_send` false: its hello may find nowhere to go (a refused CURVE
  // handshake), and the send gives up after a second.
  zmq::socket_t HandMadeWorker(const std::string& id, const std::string& token, int capacity,
                               const net::CurveClient& curve = {}, bool must_send = true) {
    zmq::socket_t socket(net::SharedContext(), zmq::socket_type::dealer);
    socket.set(zmq::sockopt::routing_id, id);
    socket.set(zmq::sockopt::linger, 0);
    socket.set(zmq::sockopt::sndtimeo, 1000);
    EXPECT_TRUE(net::MakeCurveClient(socket, curve).ok());
    socket.connect(broker_->worker_endpoint());
    proto::WorkerMessage hello;
    hello.set_token(token);
    hello.mutable_hello()->set_worker_id(id);
    hello.mutable_hello()->set_capacity(capacity);
    *hello.mutable_hello()->add_models() = ServedModel::Load(dir_).value()->info();
    const bool sent = net::SendProto(socket, hello, true).ok();
    if (must_send) EXPECT_TRUE(sent);
    return socket;
  }
  // Sends `r` as clients do: the header, then its input as a frame of its own.
  proto::InferReply Call(proto::InferRequest r) {
    net::RpcClient client({broker_->client_endpoint(), 10000ms});
    const std::string input = proto::TakeInput(&r);
    proto::InferReply reply;
    EXPECT_TRUE(client.Call(r, &reply, &input).ok());
    return reply;
  }

  fs::path repo_;
  std::string dir_;
  std::atomic<bool> stop_{false};
  // kToken is the bootstrap (admin) secret; issued credentials live in memory.
  coordinator::Credentials credentials_{{kToken, {}, [](const proto::Credential&) { return Status::Ok(); },
                                         [] { return 1.0e9; }}};
  std::unique_ptr<coordinator::Broker> broker_;
  std::vector<std::thread> threads_;
};

TEST_F(ServingTest, TwoWorkersAnswerAsTheModelDoesThroughZeroMqAndHttp) {
  StartBroker();
  StartWorker("w1");
  StartWorker("w2");
  WaitForWorkers(2);

  // The model run directly, one request at a time.
  auto direct = ServedModel::Load(dir_).value();
  std::vector<proto::InferReply> expected(12);
  for (int i = 0; i < 12; ++i) {
    proto::InferRequest r = Tone(i);
    at::Tensor input = direct->Prepare(r).value();
    std::vector<proto::InferReply*> out = {&expected[i]};
    ASSERT_TRUE(direct->Predict({input}, {&r}, out).ok());
  }

  // 12 requests from 4 concurrent clients, so both workers and batches are used.
  std::vector<proto::InferReply> got(12);
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      for (int i = c; i < 12; i += 4) got[i] = Call(Tone(i));
    });
  for (auto& t : clients) t.join();
  std::set<std::string> workers;
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(got[i].code(), "OK") << got[i].error();
    EXPECT_EQ(got[i].id(), "r" + std::to_string(i));
    workers.insert(got[i].worker());
    ASSERT_EQ(NumLabels(got[i]), 3);
    EXPECT_EQ(TopLabel(got[i]), TopLabel(expected[i]));
    ASSERT_EQ(Logits(got[i]).size(), 4u);
    for (int k = 0; k < 4; ++k) EXPECT_NEAR(Logits(got[i])[k], Logits(expected[i])[k], 1e-4);
    EXPECT_GE(got[i].broker_us(), got[i].queue_us() + got[i].compute_us() - 1000);
  }
  EXPECT_EQ(workers.size(), 2u) << "all requests went to one worker";

  // The same through HTTP (Open Inference Protocol v2).
  coordinator::GatewayOptions go = Gateway();
  go.max_body_bytes = 1 << 20;
  auto gateway = coordinator::Gateway::Start(go, *broker_).value();
  httplib::Client http("127.0.0.1", gateway->port());
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  proto::InferRequest tone = Tone(3);
  nlohmann::json body = {
      {"inputs", {{{"name", "audio"}, {"datatype", "FP32"}, {"shape", {tone.pcm().samples_size()}},
                   {"data", std::vector<float>(tone.pcm().samples().begin(), tone.pcm().samples().end())}}}},
      {"parameters", {{"top_k", 2}, {"sample_rate", 16000}}}};
  auto res = http.Post("/v2/models/kws/infer", auth, body.dump(), "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  auto answer = nlohmann::json::parse(res->body);
  EXPECT_EQ(answer["model_name"], "kws");
  EXPECT_EQ(answer["outputs"][0]["data"][0], TopLabel(expected[3]));
  EXPECT_NEAR(answer["outputs"][1]["data"][0].get<float>(), TopScore(expected[3]), 1e-5);

  EXPECT_EQ(http.Get("/v2/health/ready")->status, 200);
  EXPECT_EQ(http.Get("/v2/models/kws", auth)->status, 200);
  EXPECT_EQ(http.Get("/v2/models/kws/ready", auth)->status, 200);
  auto metrics = http.Get("/metrics");
  EXPECT_THAT(metrics->body, HasSubstr("chorus_inference_requests_total{model=\"kws\",outcome=\"OK\"} 13"));
  EXPECT_THAT(metrics->body, HasSubstr("chorus_workers{model=\"kws\"} 2"));

  // OIP v2: every model route under /versions/{v}, and the outputs asked for.
  auto meta = http.Get("/v2/models/kws/versions/1", auth);
  ASSERT_EQ(meta->status, 200) << meta->body;
  EXPECT_EQ(nlohmann::json::parse(meta->body)["versions"], nlohmann::json::array({"1"}));
  EXPECT_EQ(http.Get("/v2/models/kws/versions/1/ready", auth)->status, 200);
  EXPECT_EQ(http.Get("/v2/models/kws/versions/2", auth)->status, 404);
  EXPECT_EQ(http.Get("/v2/models/kws/versions/x1/ready", auth)->status, 400);
  body["outputs"] = {{{"name", "labels"}}};
  auto pinned = http.Post("/v2/models/kws/versions/1/infer", auth, body.dump(), "application/json");
  ASSERT_EQ(pinned->status, 200) << pinned->body;
  auto pinned_answer = nlohmann::json::parse(pinned->body);
  EXPECT_EQ(pinned_answer["model_version"], "1");
  ASSERT_EQ(pinned_answer["outputs"].size(), 1u);
  EXPECT_EQ(pinned_answer["outputs"][0]["name"], "labels");
  EXPECT_EQ(http.Post("/v2/models/kws/versions/3/infer", auth, body.dump(), "application/json")->status, 404);
  body["outputs"] = {{{"name", "nope"}}};
  auto no_output = http.Post("/v2/models/kws/infer", auth, body.dump(), "application/json");
  EXPECT_EQ(no_output->status, 400);
  EXPECT_THAT(no_output->body, HasSubstr("no output 'nope' (it gives labels, scores"));
  body.erase("outputs");

  // Bad input: a clear 4xx, and serving goes on.
  auto status_of = [&](const std::string& path, const std::string& b, const std::string& type, bool with_token = true) {
    auto r = http.Post(path.c_str(), with_token ? auth : httplib::Headers{}, b, type.c_str());
    return r ? r->status : -1;
  };
  EXPECT_EQ(status_of("/v2/models/kws/infer", "{not json", "application/json"), 400);
  EXPECT_EQ(status_of("/v2/models/kws/infer",
                      R"({"inputs":[{"name":"features","datatype":"FP32","shape":[2,2],"data":[1,2,3,4]}]})",
                      "application/json"),
            400);
  EXPECT_EQ(status_of("/v2/models/kws/infer",
                      R"({"inputs":[{"name":"features","datatype":"INT8","shape":[1],"data":[1]}]})",
                      "application/json"),
            400);
  EXPECT_EQ(status_of("/v2/models/kws/infer", "RIFF but not really a wav file", "audio/wav"), 400);
  // 400 KB nesting `data` 200,000 deep once overflowed the coordinator's stack (SIGSEGV).
  const int deep = 200000;
  const std::string nested = R"({"inputs":[{"name":"audio","datatype":"FP32","shape":[1],"data":)" +
                             std::string(deep, '[') + "0.5" + std::string(deep, ']') + "}]}";
  auto refused = http.Post("/v2/models/kws/infer", auth, nested, "application/json");
  ASSERT_TRUE(refused) << "the gateway did not answer a deeply nested body";
  EXPECT_EQ(refused->status, 400);
  EXPECT_THAT(refused->body, HasSubstr("nests deeper than 64"));
  // More hostile bodies and paths: each a 4xx with a JSON error, never a 500.
  const std::string audio = R"({"name":"audio","shape":[1],"data":[0.5])";
  EXPECT_EQ(status_of("/v2/models/kws/infer", R"({"inputs":[)" + audio + R"(,"datatype":7}]})", "application/json"), 400);
  EXPECT_EQ(status_of("/v2/models/kws/infer",
                      R"({"inputs":[{"name":"audio","datatype":"FP32","shape":[4294967296,4294967296],"data":[1]}]})",
                      "application/json"),
            400);
  EXPECT_EQ(status_of("/v2/models/kws/infer",
                      R"({"parameters":{"timeout_ms":9300000000000000},"inputs":[)" + audio +
                          R"(,"datatype":"FP32"}]})",
                      "application/json"),
            400);
  EXPECT_EQ(status_of("/v2/models/kws/infer", "{\"inputs\":\"\xff\xfe\"}", "application/json"), 400);
  auto bad_name = http.Get("/v2/models/%ff", auth);
  ASSERT_TRUE(bad_name);
  EXPECT_EQ(bad_name->status, 404);
  EXPECT_TRUE(nlohmann::json::parse(bad_name->body, nullptr, false).contains("error")) << bad_name->body;
  auto bad_infer = http.Post("/v2/models/%ff/infer", auth, "x", "audio/wav");
  ASSERT_TRUE(bad_infer);
  EXPECT_EQ(bad_infer->status, 404);
  EXPECT_EQ(status_of("/v2/models/nope/infer", "x", "audio/wav"), 404);
  EXPECT_EQ(status_of("/v2/models/kws/infer", "x", "audio/wav", /*with_token=*/false), 401);
  EXPECT_EQ(status_of("/v2/models/kws/infer", std::string(2 << 20, 'x'), "audio/wav"), 413);
  // A chunked body once bypassed max_body_bytes (1 GB read before the 401):
  // now it is answered from the headers without a token, and from the first
  // chunk's size with one, before the body's end is ever sent.
  for (bool with_token : {false, true}) {
    std::string head = "POST /v2/models/kws/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\n"
                       "Transfer-Encoding: chunked\r\n";
    if (with_token) head += std::string("Authorization: Bearer ") + kToken + "\r\n";
    const std::string answer = RawHttp(gateway->port(), head + "\r\n200000\r\n" + std::string(4096, 'x'));
    EXPECT_THAT(answer, HasSubstr(with_token ? "HTTP/1.1 413" : "HTTP/1.1 401")) << answer.substr(0, 200);
    EXPECT_THAT(answer, HasSubstr("\"error\""));
  }
  // Headers of a megabyte: 431, with a JSON error.
  const std::string huge = RawHttp(gateway->port(), "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Pad: " +
                                                        std::string(1 << 20, 'p') + "\r\n\r\n");
  EXPECT_THAT(huge, HasSubstr("HTTP/1.1 431")) << huge.substr(0, 200);
  EXPECT_THAT(huge, HasSubstr("\"error\""));
  EXPECT_EQ(Call(Tone(1)).code(), "OK");
}

TEST_F(ServingTest, ARequestPinnedToAVersionGoesOnlyToWorkersOfThatVersion) {
  models::ModelMetadata meta;  // version 2 of the same model beside version 1
  meta.name = "kws";
  meta.model.name = "tc_resnet";
  meta.model.width = 8;
  meta.shape = {98, 40, 4};
  meta.labels = {"_silence_", "_unknown_", "yes", "no"};
  auto model = models::CreateModel(meta.model, meta.shape).value();
  model->eval();
  const std::string v2 = models::ExportModel(*model, meta, repo_.string()).value();
  StartBroker();
  StartWorker("one");
  StartWorker("two", 4, v2);
  WaitForWorkers(2);
  for (int64_t version : {2, 1, 2, 1, 2, 2}) {
    proto::InferRequest r = Tone(static_cast<int>(version));
    r.set_version(version);
    proto::InferReply reply = Call(r);
    EXPECT_EQ(reply.code(), "OK") << reply.error();
    EXPECT_EQ(reply.version(), version);
    EXPECT_EQ(reply.worker(), version == 1 ? "one" : "two");
  }
  proto::InferRequest r = Tone(0);
  r.set_version(3);
  proto::InferReply reply = Call(r);
  EXPECT_EQ(reply.code(), "NOT_FOUND");
  EXPECT_THAT(reply.error(), HasSubstr("version 3"));
}

TEST_F(ServingTest, SlowConnectionsDoNotShutOthersOut) {
  StartBroker();
  coordinator::GatewayOptions go = Gateway();
  auto gateway = coordinator::Gateway::Start(go, *broker_).value();
  // Sixteen clients that start a request and then say nothing (each holds a
  // thread until the 5 s read timeout; cpp-httplib's default 8 threads
  // left no one to answer anybody else).
  std::vector<int> slow;
  for (int i = 0; i < 16; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(gateway->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const std::string part = "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n";
    ASSERT_GT(send(fd, part.data(), part.size(), MSG_NOSIGNAL), 0);
    slow.push_back(fd);
  }
  std::this_thread::sleep_for(200ms);
  httplib::Client http("127.0.0.1", gateway->port());
  http.set_read_timeout(2, 0);
  auto live = http.Get("/v2/health/live");
  EXPECT_TRUE(live && live->status == 200) << "the gateway did not answer beside 16 slow connections";
  for (int fd : slow) close(fd);
}

TEST_F(ServingTest, AClipModelRefusesMoreThanAMinuteOfAudioBeforeDecodingIt) {
  // 15 MB of 8-bit audio at 1 kHz is four hours: once, decoding it stalled a
  // worker's loop long enough for the broker to drop it.
  auto model = ServedModel::Load(dir_).value();
  proto::InferRequest r;
  r.set_wav(audio::testing::WavBytes(1000, 1, 8, 15'000'000, std::string(15'000'000, '\x80')));
  Status s = model->Prepare(r).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("15000 s of audio; at most 60 s"));  // the header's figure
  r.set_wav(audio::testing::WavBytes(1000, 1, 8, 60'000, std::string(60'000, '\x80')));
  EXPECT_TRUE(model->Prepare(r).ok());  // a minute is still accepted (and cropped to the clip)
}

// A keyword stream's chunk (16 kHz PCM) with the session's state so far.
proto::InferRequest KeywordChunk(const std::vector<float>& audio, size_t from, size_t to, const std::string& state,
                                 bool end) {
  proto::InferRequest r;
  r.set_model("kws");
  r.mutable_sequence()->set_id("s");
  r.mutable_sequence()->set_end(end);
  r.set_stream_state(state);
  (*r.mutable_parameters())["threshold"] = 0.2;  // an untrained model: low scores, some still keywords
  (*r.mutable_parameters())["refractory_ms"] = 300;
  r.mutable_pcm()->set_sample_rate(16000);
  r.mutable_pcm()->mutable_samples()->Add(audio.begin() + static_cast<long>(from), audio.begin() + static_cast<long>(to));
  return r;
}

struct Spotted {
  std::vector<std::string> words;
  std::vector<float> times, scores;
};

void Collect(const proto::InferReply& reply, Spotted* out) {
  const proto::NamedTensor* words = tasks::FindOutput(reply, "keywords");
  const proto::NamedTensor* times = tasks::FindOutput(reply, "keyword_times");
  const proto::NamedTensor* scores = tasks::FindOutput(reply, "keyword_scores");
  ASSERT_TRUE(words && times && scores);
  ASSERT_EQ(words->bytes_size(), times->fp32_size());
  out->words.insert(out->words.end(), words->bytes().begin(), words->bytes().end());
  out->times.insert(out->times.end(), times->fp32().begin(), times->fp32().end());
  out->scores.insert(out->scores.end(), scores->fp32().begin(), scores->fp32().end());
}

// Plays `audio` in chunks of `chunk` samples, each to the next of `models` in turn.
Spotted PlayKeywordStream(const std::vector<ServedModel*>& models, const std::vector<float>& audio, size_t chunk) {
  Spotted out;
  std::string state;
  for (size_t from = 0, k = 0; from < audio.size(); from += chunk, ++k) {
    const size_t to = std::min(audio.size(), from + chunk);
    const proto::InferRequest r = KeywordChunk(audio, from, to, state, to == audio.size());
    proto::InferReply reply;
    const Status s = models[k % models.size()]->StreamChunk(r, &reply);
    EXPECT_TRUE(s.ok()) << s.ToString();
    Collect(reply, &out);
    state = reply.stream_state();
  }
  return out;
}

TEST_F(ServingTest, AKeywordSpotterStreamsOverASlidingWindowWhateverTheChunkingAndTheWorker) {
  auto a = ServedModel::Load(dir_).value();
  auto b = ServedModel::Load(dir_).value();
  ASSERT_TRUE(a->info().streams());
  // 0.5 s of silence, 1 s of one tone, 0.5 s of silence, 1.5 s of another.
  std::vector<float> audio(8000, 0.0f);
  for (int i : {1, 2}) {
    const proto::InferRequest tone = Tone(i);
    audio.insert(audio.end(), tone.pcm().samples().begin(), tone.pcm().samples().end());
    if (i == 1) audio.insert(audio.end(), 8000, 0.0f);
  }
  audio.insert(audio.end(), audio.end() - 8000, audio.end());
  const Spotted whole = PlayKeywordStream({a.get()}, audio, audio.size());
  ASSERT_FALSE(whole.words.empty()) << "no keyword at threshold 0.2: the test says nothing";
  for (size_t k = 0; k < whole.words.size(); ++k) {
    EXPECT_THAT(whole.words[k], ::testing::AnyOf("yes", "no")) << "a class that is not a keyword was reported";
    EXPECT_NEAR(whole.times[k] * 10, std::round(whole.times[k] * 10), 1e-4) << "not at the end of a 100 ms hop";
    EXPECT_GE(whole.times[k], 0.6f) << "a keyword in the opening silence (quiet windows are not scored)";
    if (k > 0) EXPECT_GE(whole.times[k] - whole.times[k - 1], 0.3f - 1e-4) << "inside the refractory period";
  }
  for (size_t chunk : {512, 4000, 1600}) {  // 32 ms chunks alternating between two workers, 250 ms, one hop
    const Spotted s = PlayKeywordStream({a.get(), b.get()}, audio, chunk);
    EXPECT_EQ(s.words, whole.words) << "chunks of " << chunk;
    ASSERT_EQ(s.times.size(), whole.times.size());
    for (size_t k = 0; k < s.times.size(); ++k) {
      EXPECT_FLOAT_EQ(s.times[k], whole.times[k]);
      EXPECT_NEAR(s.scores[k], whole.scores[k], 1e-5);
    }
  }
  // Two sessions' chunks in one batch: each as it is alone.
  const proto::InferRequest first = KeywordChunk(audio, 0, 24000, "", false);
  const proto::InferRequest quiet = KeywordChunk(std::vector<float>(24000, 0.0f), 0, 24000, "", false);
  std::vector<proto::InferReply> replies(2);
  std::vector<Status> status = a->StreamChunks({&first, &quiet}, {&replies[0], &replies[1]});
  ASSERT_TRUE(status[0].ok() && status[1].ok());
  Spotted together, alone, silent;
  Collect(replies[0], &together);
  Collect(replies[1], &silent);
  proto::InferReply single;
  ASSERT_TRUE(b->StreamChunk(first, &single).ok());
  Collect(single, &alone);
  EXPECT_EQ(together.words, alone.words);
  EXPECT_FALSE(together.words.empty());
  EXPECT_TRUE(silent.words.empty()) << "silence spotted as " << silent.words.front();
  proto::StreamState state;
  ASSERT_TRUE(state.ParseFromString(replies[1].stream_state()));
  EXPECT_EQ(state.samples(), 24000);
  EXPECT_EQ(state.pending_size(), 16000);  // one clip's worth
  // A parameter the model owns, and a chunk at another rate, are refused by name.
  proto::InferRequest hop = KeywordChunk(audio, 0, 1600, "", false);
  (*hop.mutable_parameters())["hop_ms"] = 50;
  proto::InferReply refused;
  Status s = a->StreamChunk(hop, &refused);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("hop_ms"));
  proto::InferRequest slow = KeywordChunk(audio, 0, 1600, "", false);
  slow.mutable_pcm()->set_sample_rate(8000);
  s = a->StreamChunk(slow, &refused);
  EXPECT_THAT(s.message(), HasSubstr("model's rate, 16000 Hz"));
}

TEST_F(ServingTest, FullQueueRefusesAtOnceAndQueuedRequestsEndByTheirDeadline) {
  coordinator::BrokerOptions o;
  o.max_queue = 2;
  StartBroker(o);
  broker_->Expect("kws", true);  // accepted, but no worker will come
  std::vector<proto::InferReply> replies(2);
  std::vector<std::thread> waiting;
  std::atomic<int> ended{0};
  for (int i = 0; i < 2; ++i)
    waiting.emplace_back([&, i] {
      proto::InferRequest r = Tone(i);
      r.set_timeout_ms(1500);
      replies[i] = Call(r);
      ++ended;
    });
  for (int i = 0; i < 1000 && broker_->Snapshot().models["kws"].queued < 2; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(broker_->Snapshot().models["kws"].queued, 2);
  proto::InferReply refused = Call(Tone(2));
  EXPECT_EQ(refused.code(), "RESOURCE_EXHAUSTED");
  EXPECT_THAT(refused.error(), HasSubstr("full"));
  EXPECT_EQ(ended.load(), 0);  // refused at once, while the queued two still wait
  for (auto& t : waiting) t.join();
  for (const auto& r : replies) EXPECT_EQ(r.code(), "DEADLINE_EXCEEDED");  // not the 10 s client timeout
}

TEST_F(ServingTest, OverHttpDeadlinesCountFromArrivalAndAFullGatewayAnswers429AtOnce) {
  StartBroker();
  broker_->Expect("kws", true);  // accepted, but no worker will come
  coordinator::GatewayOptions go = Gateway();
  go.threads = 1;     // one request at the broker at a time,
  go.max_queued = 1;  // one more waiting for it
  auto gateway = coordinator::Gateway::Start(go, *broker_).value();
  auto infer = [&](int timeout_ms) {
    httplib::Client http("127.0.0.1", gateway->port());
    http.set_read_timeout(10, 0);
    const std::string body = R"({"parameters":{"timeout_ms":)" + std::to_string(timeout_ms) +
                             R"(},"inputs":[{"name":"audio","datatype":"FP32","shape":[1],"data":[0.5]}]})";
    auto r = http.Post("/v2/models/kws/infer", {{"Authorization", std::string("Bearer ") + kToken}}, body,
                       "application/json");
    return r ? std::make_pair(r->status, r->body) : std::make_pair(-1, std::string());
  };
  auto first = std::async(std::launch::async, infer, 1500);  // waits at the broker for 1.5 s
  for (int i = 0; i < 1000 && broker_->Snapshot().models["kws"].queued < 1; ++i) std::this_thread::sleep_for(5ms);
  auto second = std::async(std::launch::async, infer, 400);  // waits for the gateway's thread
  std::this_thread::sleep_for(200ms);
  const auto start = std::chrono::steady_clock::now();
  auto third = infer(5000);
  EXPECT_EQ(third.first, 429) << third.second;  // refused at once
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  httplib::Client http("127.0.0.1", gateway->port());
  EXPECT_EQ(http.Get("/v2/health/live")->status, 200);  // health answers beside a full gateway
  EXPECT_EQ(first.get().first, 504);
  auto late = second.get();
  EXPECT_EQ(late.first, 504);  // its 400 ms passed while it waited: never sent to the broker
  EXPECT_THAT(late.second, HasSubstr("past its 400 ms deadline"));
}

TEST_F(ServingTest, RequestsOfAWorkerThatFallsSilentGoToAnother) {
  StartBroker();
  // A worker that registers, takes requests and then goes silent (as if killed).
  zmq::socket_t ghost = HandMadeWorker("ghost", kToken, 100);
  WaitForWorkers(1);

  std::vector<proto::InferReply> replies(6);
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) clients.emplace_back([&, i] { replies[i] = Call(Tone(i)); });
  std::this_thread::sleep_for(200ms);  // they all went to the ghost
  StartWorker("real");
  for (auto& t : clients) t.join();
  for (const auto& r : replies) {
    EXPECT_EQ(r.code(), "OK") << r.error();
    EXPECT_EQ(r.worker(), "real");
    EXPECT_EQ(r.attempts(), 2);
  }
}

TEST_F(ServingTest, ATokenDoesOnlyWhatItsRoleAllows) {
  StartBroker();
  StartWorker("w1");
  WaitForWorkers(1);
  auto issue = [&](const std::string& role, std::vector<std::string> models) {
    proto::TokenCreateRequest r;
    r.set_role(role);
    for (auto& m : models) r.add_models(m);
    auto made = credentials_.Create(r, "root");
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    return made.ok() ? made->token() : std::string();
  };
  const std::string kws_only = issue("infer", {"kws"}), other_only = issue("infer", {"other"});
  const std::string submitter = issue("submit", {});
  proto::InferRequest r = Tone(1);
  r.set_token(kws_only);
  EXPECT_EQ(Call(r).code(), "OK");
  r.set_token(other_only);
  proto::InferReply refused = Call(r);
  EXPECT_EQ(refused.code(), "PERMISSION_DENIED");
  EXPECT_THAT(refused.error(), HasSubstr("may not infer on model 'kws'"));
  r.set_token(submitter);
  EXPECT_EQ(Call(r).code(), "PERMISSION_DENIED");
  r.set_token(kws_only + "0");
  EXPECT_EQ(Call(r).code(), "UNAUTHENTICATED");

  // An inference token cannot pose as a worker: its hello (with a large
  // capacity) is dropped, and no client's audio ever reaches it.
  zmq::socket_t rogue = HandMadeWorker("rogue", kws_only, 1000);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(Call(Tone(i)).worker(), "w1");
  EXPECT_EQ(broker_->Snapshot().workers.size(), 1u);
  zmq::message_t stolen;
  EXPECT_FALSE(rogue.recv(stolen, zmq::recv_flags::dontwait).has_value()) << "the rogue received a message";
  // The worker role may register.
  zmq::socket_t registered = HandMadeWorker("registered", credentials_.WorkerToken(), 1000);
  WaitForWorkers(2);

  // Over HTTP the same: 403 for a model not on the list, 401 once revoked.
  coordinator::GatewayOptions go = Gateway();
  auto gateway = coordinator::Gateway::Start(go, *broker_).value();
  httplib::Client http("127.0.0.1", gateway->port());
  auto as = [](const std::string& token) { return httplib::Headers{{"Authorization", "Bearer " + token}}; };
  EXPECT_EQ(http.Get("/v2/models/kws", as(kws_only))->status, 200);
  EXPECT_EQ(http.Get("/v2/models/kws", as(other_only))->status, 403);
  EXPECT_EQ(http.Post("/v2/repository/models/kws/unload", as(kws_only), "", "application/json")->status, 403);
  const std::string id = kws_only.substr(7, 12);  // "chorus_<id>_<secret>"
  ASSERT_TRUE(credentials_.Revoke(id).ok());
  EXPECT_EQ(http.Get("/v2/models/kws", as(kws_only))->status, 401);
  r.set_token(kws_only);
  EXPECT_EQ(Call(r).code(), "UNAUTHENTICATED");
}

TEST_F(ServingTest, OverCurveClientsNeedTheBrokersKeyAndOnlyTheWorkerKeyServes) {
  const std::string worker_key = credentials_.WorkerKeys().public_key;
  const net::CurveKeys server = credentials_.ServerKeys();
  ASSERT_FALSE(server.empty());
  auto zap = net::ZapHandler::Start([worker_key](const std::string& domain, const std::string& key) {
    return coordinator::AllowCurvePeer(domain, key, worker_key);
  });
  ASSERT_TRUE(zap.ok()) << zap.status().ToString();
  coordinator::BrokerOptions o;
  o.curve = server;
  StartBroker(o);
  EXPECT_EQ(broker_->curve_server_key(), server.public_key);
  StartWorker("w1", 4, "", {server.public_key, credentials_.WorkerKeys()});
  WaitForWorkers(1);

  // A client that knows the broker's key is served (with a key of its own).
  net::RpcClient client({broker_->client_endpoint(), 10000ms, {server.public_key, {}}});
  proto::InferReply reply;
  ASSERT_TRUE(client.Call(Tone(1), &reply).ok());
  EXPECT_EQ(reply.code(), "OK") << reply.error();
  EXPECT_EQ(reply.worker(), "w1");
  // One speaking in clear, or trusting another key, hears nothing.
  net::RpcClient plain({broker_->client_endpoint(), 1000ms});
  EXPECT_FALSE(plain.Call(Tone(1), &reply).ok());
  net::RpcClient fooled({broker_->client_endpoint(), 1000ms, {net::NewCurveKeys().value().public_key, {}}});
  EXPECT_FALSE(fooled.Call(Tone(1), &reply).ok());

  // The worker token without the worker key is worth nothing: the handshake
  // is refused, the impostor never registers and never sees a request.
  zmq::socket_t impostor = HandMadeWorker("impostor", credentials_.WorkerToken(), 1000, {server.public_key, {}}, false);
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(client.Call(Tone(i), &reply).ok());
    EXPECT_EQ(reply.worker(), "w1");
  }
  EXPECT_EQ(broker_->Snapshot().workers.size(), 1u);
  zmq::message_t stolen;
  EXPECT_FALSE(impostor.recv(stolen, zmq::recv_flags::dontwait).has_value());
  // With the key, a second worker joins.
  zmq::socket_t second = HandMadeWorker("second", credentials_.WorkerToken(), 1, {server.public_key, credentials_.WorkerKeys()});
  WaitForWorkers(2);
}

TEST_F(ServingTest, TheGatewaySpeaksHttpsWithTheConfiguredCertificate) {
  StartBroker();
  StartWorker("w1");
  WaitForWorkers(1);
  const std::string cert = (repo_ / "cert.pem").string(), key = (repo_ / "key.pem").string();
  const std::string make = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext "
                           "subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert + " 2>/dev/null";
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  coordinator::GatewayOptions go = Gateway();
  go.tls = {cert, key};
  auto gateway = coordinator::Gateway::Start(go, *broker_).value();
  httplib::SSLClient https("127.0.0.1", gateway->port());
  https.set_ca_cert_path(cert.c_str());
  https.enable_server_certificate_verification(true);
  const httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kToken}};
  auto meta = https.Get("/v2/models/kws", auth);
  ASSERT_TRUE(meta) << "no TLS answer: " << httplib::to_string(meta.error());
  EXPECT_EQ(meta->status, 200);
  auto infer = https.Post("/v2/models/kws/infer", auth, audio::testing::WavBytes(16000, 1, 16, 32000, audio::testing::Pcm16Data(16000)), "audio/wav");
  ASSERT_TRUE(infer);
  EXPECT_EQ(infer->status, 200) << infer->body;
  // Plain HTTP to the TLS port gets no answer it could read as one.
  httplib::Client plain("127.0.0.1", gateway->port());
  plain.set_read_timeout(2, 0);
  auto clear = plain.Get("/v2/health/live");
  EXPECT_TRUE(!clear || clear->status != 200);
  // A key that does not load is an error naming the files.
  go.tls = {cert, cert};
  auto bad = coordinator::Gateway::Start(go, *broker_);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("cannot load the TLS certificate " + cert));
}

TEST_F(ServingTest, AMessageOverTheSizeLimitIsDroppedUnreadAndOthersAreServed) {
  StartBroker();
  StartWorker("w1");
  WaitForWorkers(1);
  // Without the limit the broker would read all of it and pass it on, and the
  // worker would answer that it is not audio.
  proto::InferRequest huge = Tone(0);
  huge.set_wav(std::string(net::kMaxMessageBytes + 1, 'x'));
  const std::string input = proto::TakeInput(&huge);
  net::RpcClient client({broker_->client_endpoint(), 2000ms});
  proto::InferReply reply;
  Status s = client.Call(huge, &reply, &input);
  EXPECT_FALSE(s.ok()) << "answered: " << reply.code() << " " << reply.error();
  EXPECT_EQ(Call(Tone(1)).code(), "OK");
}

TEST_F(ServingTest, TheInputTravelsAsItsOwnFrameAndReachesTheWorkerAsTheClientSentIt) {
  StartBroker();
  zmq::socket_t worker = HandMadeWorker("hand", kToken, 10);
  WaitForWorkers(1);
  proto::InferRequest r = Tone(3);
  r.set_id("client-7");
  r.set_wav(audio::testing::WavBytes(16000, 1, 16, 32000, audio::testing::Pcm16Data(16000)));
  const std::string wav = r.wav();
  std::thread client([&] {
    proto::InferReply reply = Call(r);
    EXPECT_EQ(reply.code(), "OK") << reply.error();
    EXPECT_EQ(reply.id(), "client-7");
  });
  // The worker gets the header without the audio (the broker's id, no token)
  // and the audio as the frame after it, byte for byte.
  zmq::pollitem_t item{static_cast<void*>(worker), 0, ZMQ_POLLIN, 0};
  std::optional<net::DealtMessage> got;
  proto::BrokerMessage m;
  for (int i = 0; i < 100 && !got; ++i) {
    zmq::poll(&item, 1, 50ms);
    auto message = net::ReceiveDealt(worker);
    ASSERT_TRUE(message.ok()) << message.status().ToString();
    if (!message->has_value()) continue;
    ASSERT_TRUE(net::ParseProto((**message).header, &m).ok());
    if (m.has_request()) got = std::move(**message);
  }
  ASSERT_TRUE(got.has_value()) << "the worker got no request";
  EXPECT_FALSE(m.request().has_wav());
  EXPECT_EQ(m.request().input_frame(), proto::INPUT_WAV);
  EXPECT_NE(m.request().id(), "client-7");
  EXPECT_EQ(m.request().token(), "");
  ASSERT_TRUE(got->payload.has_value());
  EXPECT_EQ(got->payload->to_string(), wav);
  proto::WorkerMessage answer;
  answer.set_token(kToken);
  answer.mutable_reply()->set_id(m.request().id());
  answer.mutable_reply()->set_code("OK");
  ASSERT_TRUE(net::SendProto(worker, answer, true).ok());
  client.join();
}

TEST_F(ServingTest, AnInputFrameThatItsHeaderDoesNotNameOrThatDoesNotParseIsRefused) {
  StartBroker();
  StartWorker("w1");
  WaitForWorkers(1);
  net::RpcClient client({broker_->client_endpoint(), 10000ms});
  proto::InferReply reply;
  // A frame the header does not name, and a header naming a frame that is not there.
  proto::InferRequest r = Tone(1);
  const std::string input = proto::TakeInput(&r);
  proto::InferRequest unnamed = r;
  unnamed.set_input_frame(proto::INPUT_IN_MESSAGE);
  ASSERT_TRUE(client.Call(unnamed, &reply, &input).ok());
  EXPECT_EQ(reply.code(), "INVALID_ARGUMENT");
  EXPECT_THAT(reply.error(), HasSubstr("does not name it"));
  ASSERT_TRUE(client.Call(r, &reply).ok());
  EXPECT_EQ(reply.code(), "INVALID_ARGUMENT");
  EXPECT_THAT(reply.error(), HasSubstr("none came after it"));
  // A frame said to be PCM that is not: the worker refuses it and serves on.
  proto::InferRequest pcm = r;
  pcm.set_input_frame(proto::INPUT_PCM);
  const std::string garbage = "\xff\xff\xff";
  ASSERT_TRUE(client.Call(pcm, &reply, &garbage).ok());
  EXPECT_EQ(reply.code(), "INVALID_ARGUMENT");
  EXPECT_THAT(reply.error(), HasSubstr("not a chorus.proto.Pcm"));
  // The input inside the message still works (one message, no frame).
  ASSERT_TRUE(client.Call(Tone(2), &reply).ok());
  EXPECT_EQ(reply.code(), "OK") << reply.error();
  EXPECT_EQ(Call(Tone(1)).code(), "OK");
}

TEST_F(ServingTest, ARequestSubmittedInProcessIsCheckedAndRoutedLikeOneFromTheSocket) {
  StartBroker();
  StartWorker("w1");
  WaitForWorkers(1);
  auto submit = [&](proto::InferRequest r) {
    auto answer = std::make_shared<std::promise<proto::InferReply>>();
    auto answered = answer->get_future();
    broker_->Submit(std::move(r), [answer](proto::InferReply a) { answer->set_value(std::move(a)); });
    EXPECT_EQ(answered.wait_for(5s), std::future_status::ready);
    return answered.get();
  };
  proto::InferRequest r = Tone(2);
  r.set_id("mine");
  proto::InferReply ok = submit(r);
  EXPECT_EQ(ok.code(), "OK") << ok.error();
  EXPECT_EQ(ok.id(), "mine");
  EXPECT_EQ(ok.worker(), "w1");
  // The same answer as through the socket, for the same input.
  proto::InferReply socket = Call(Tone(2));
  ASSERT_EQ(socket.outputs_size(), ok.outputs_size());
  for (int i = 0; i < ok.outputs_size(); ++i) {
    EXPECT_EQ(socket.outputs(i).fp32_size(), ok.outputs(i).fp32_size());
    EXPECT_EQ(socket.outputs(i).bytes().size(), ok.outputs(i).bytes().size());
    for (int j = 0; j < ok.outputs(i).bytes_size(); ++j) EXPECT_EQ(socket.outputs(i).bytes(j), ok.outputs(i).bytes(j));
  }
  r.set_token("not a token");
  EXPECT_EQ(submit(r).code(), "UNAUTHENTICATED");
  r.set_token(kToken);
  r.set_model("nobody-serves-this");
  EXPECT_EQ(submit(r).code(), "NOT_FOUND");
  // A broker that stopped answers at once, and so do requests it held.
  coordinator::BrokerOptions o;
  o.credentials = &credentials_;
  auto other = coordinator::Broker::Bind(o).value();
  std::atomic<bool> stop_other{false};
  std::thread run([&] { other->Run(stop_other); });
  stop_other = true;
  run.join();
  auto answer = std::make_shared<std::promise<proto::InferReply>>();
  auto answered = answer->get_future();
  other->Submit(Tone(1), [answer](proto::InferReply a) { answer->set_value(std::move(a)); });
  ASSERT_EQ(answered.wait_for(0s), std::future_status::ready);
  EXPECT_EQ(answered.get().code(), "UNAVAILABLE");
}

// The broker unloads a model while one of its requests waits in the
// worker's batcher: that request is answered (at once, not after the batch
// delay), one sent after the unload is refused, the worker says it serves
// nothing now and goes on.
TEST_F(ServingTest, ARequestWaitingWhileItsModelIsUnloadedIsAnsweredAndTheWorkerGoesOn) {
  std::string endpoint;
  auto router = net::BindRouter("tcp://127.0.0.1:0", &endpoint).value();  // the test plays the broker
  ServeOptions o;
  o.broker = endpoint;
  o.token = kToken;
  o.worker_id = "w";
  o.model_dirs = {dir_};
  o.batching.max_batch_size = 8;
  o.batching.max_queue_delay = 300000us;  // a lone request waits for company
  o.heartbeat_interval = 50ms;
  auto loop = ServeLoop::Create(o);
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  threads_.emplace_back([this, l = std::shared_ptr<ServeLoop>(std::move(*loop))] { (void)l->Run(stop_); });
  // Everything the worker says within `wait`, until `want` says enough.
  auto receive = [&](std::chrono::milliseconds wait, const std::function<bool(const proto::WorkerMessage&)>& want) {
    for (auto until = std::chrono::steady_clock::now() + wait; std::chrono::steady_clock::now() < until;) {
      auto m = net::ReceiveRouted(*router);
      if (!m.ok() || !m->has_value()) {
        std::this_thread::sleep_for(5ms);
        continue;
      }
      proto::WorkerMessage message;
      if (net::ParseProto((*m)->header, &message).ok() && want(message)) return true;
    }
    return false;
  };
  ASSERT_TRUE(receive(5000ms, [](const proto::WorkerMessage& m) { return m.has_hello(); }));
  proto::BrokerMessage request;
  request.mutable_request()->set_id("1");
  request.mutable_request()->set_model("kws");
  proto::Tensor* f = request.mutable_request()->mutable_features();
  f->add_shape(98);
  f->add_shape(40);
  f->mutable_data()->Resize(98 * 40, 0.1f);
  ASSERT_TRUE(net::SendRouted(*router, {"w"}, request).ok());
  proto::BrokerMessage unload;
  unload.set_unload_model("kws");
  const auto unloaded_at = std::chrono::steady_clock::now();
  ASSERT_TRUE(net::SendRouted(*router, {"w"}, unload).ok());
  request.mutable_request()->set_id("2");
  ASSERT_TRUE(net::SendRouted(*router, {"w"}, request).ok());
  std::map<std::string, proto::InferReply> replies;
  ASSERT_TRUE(receive(3000ms, [&](const proto::WorkerMessage& m) {
    if (m.has_reply()) replies[m.reply().id()] = m.reply();
    return replies.size() == 2;
  }));
  EXPECT_EQ(replies["1"].code(), "OK") << replies["1"].error();
  EXPECT_LT(std::chrono::steady_clock::now() - unloaded_at, 250ms);  // not held for the batch delay
  EXPECT_EQ(replies["2"].code(), "NOT_FOUND");
  EXPECT_THAT(replies["2"].error(), HasSubstr("does not serve kws"));
  // It says what it serves now (nothing) and keeps beating.
  EXPECT_TRUE(receive(3000ms, [](const proto::WorkerMessage& m) { return m.has_hello() && m.hello().models().empty(); }));
  EXPECT_TRUE(receive(3000ms, [](const proto::WorkerMessage& m) { return m.has_heartbeat(); }));
}

// Unloading through the broker: a worker serving two models drops one in
// place; the broker sends it no more requests for that one and the worker
// serves the other as before.
TEST_F(ServingTest, AWorkerUnloadsOneOfItsModelsInPlaceAndServesTheOther) {
  StartBroker();
  ServeOptions o;
  o.broker = broker_->worker_endpoint();
  o.token = kToken;
  o.worker_id = "both";
  o.model_dirs = {dir_, "other=" + dir_};
  o.heartbeat_interval = 100ms;
  auto loop = ServeLoop::Create(o);
  ASSERT_TRUE(loop.ok()) << loop.status().ToString();
  threads_.emplace_back([this, l = std::shared_ptr<ServeLoop>(std::move(*loop))] { (void)l->Run(stop_); });
  WaitForWorkers(1);
  proto::InferRequest other = Tone(1);
  other.set_model("other");
  EXPECT_EQ(Call(other).code(), "OK");
  broker_->UnloadModel("both", "other");
  broker_->UnloadModel("nobody", "kws");  // an unknown worker: nothing happens
  proto::InferReply refused;
  for (int i = 0; i < 100; ++i) {  // the next broker loop sends it
    refused = Call(other);
    if (refused.code() != "OK") break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(refused.code(), "NOT_FOUND") << refused.error();
  proto::InferReply kws = Call(Tone(2));
  EXPECT_EQ(kws.code(), "OK") << kws.error();
  EXPECT_EQ(kws.worker(), "both");
  for (int i = 0; i < 100; ++i) {  // and its hello reaches the broker's snapshot
    auto workers = broker_->Snapshot().workers;
    if (workers.size() == 1 && workers[0].models == std::vector<std::string>{"kws"}) return;
    std::this_thread::sleep_for(20ms);
  }
  FAIL() << "the broker still lists the unloaded model for the worker";
}

TEST_F(ServingTest, AWorkerWhoseBrokerIsGoneGivesUp) {
  ServeOptions o;
  o.broker = "tcp://127.0.0.1:1";  // nothing listens there
  o.token = kToken;
  o.model_dirs = {dir_};
  o.heartbeat_interval = 50ms;
  o.broker_liveness = 200ms;
  o.give_up = 500ms;
  auto loop = ServeLoop::Create(o).value();
  std::atomic<bool> never{false};
  auto start = std::chrono::steady_clock::now();
  Status s = loop->Run(never);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("giving up"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

// A model trained elsewhere: TorchScript saved by Python's torch.jit.save.
TEST(ServedModel, LoadsTorchScriptSavedFromPython) {
  if (std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0) GTEST_SKIP() << "no python3-torch";
  fs::path dir = fs::temp_directory_path() / ("chorus_ts_test_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string script = (dir / "make.py").string();
  std::ofstream(script) << "import torch, sys\n"
                           "class M(torch.nn.Module):\n"
                           "    def __init__(self):\n"
                           "        super().__init__()\n"
                           "        torch.manual_seed(0)\n"
                           "        self.fc = torch.nn.Linear(98 * 40, 3)\n"
                           "    def forward(self, x):\n"
                           "        return self.fc(x.flatten(1))\n"
                           "m = torch.jit.script(M().eval())\n"
                           "m.save(sys.argv[1] + '/model.ts')\n"
                           "x = torch.ones(1, 98, 40)\n"
                           "print(' '.join('%.6f' % v for v in m(x)[0].tolist()))\n";
  const std::string out = (dir / "out.txt").string();
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " " + dir.string() + " > " + out).c_str()), 0);
  std::ofstream(dir / "model.json") << R"({"format": "torchscript-1", "name": "py", "version": 4,
    "labels": ["a", "b", "c"], "frames": 98, "bins": 40, "clip_seconds": 1.0,
    "features": {"kind": "log_mel", "sample_rate": 16000}})";
  auto model = ServedModel::Load(dir.string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->info().format(), "torchscript");
  EXPECT_EQ((*model)->info().version(), 4);
  proto::InferRequest r;
  r.set_top_k(3);
  r.set_want_logits(true);
  auto* f = r.mutable_features();
  f->add_shape(98);
  f->add_shape(40);
  for (int i = 0; i < 98 * 40; ++i) f->add_data(1.0f);
  at::Tensor input = (*model)->Prepare(r).value();
  proto::InferReply reply;
  std::vector<proto::InferReply*> replies = {&reply};
  ASSERT_TRUE((*model)->Predict({input}, {&r}, replies).ok());
  std::ifstream python(out);
  for (int k = 0; k < 3; ++k) {
    float expected = 0;
    python >> expected;
    ASSERT_EQ(Logits(reply).size(), 3u);
    EXPECT_NEAR(Logits(reply)[k], expected, 1e-4);
  }
  // Damaged: a model.ts that is not TorchScript is an error naming the file.
  std::ofstream(dir / "model.ts") << "not a zip archive";
  auto broken = ServedModel::Load(dir.string());
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("model.ts"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace chorus::serve
