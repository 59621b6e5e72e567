#include "coordinator/gateway.h"

#include <algorithm>
#include <set>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/net/rpc_client.h"
#include "common/proto/serve.pb.h"
#include "common/tasks/outputs.h"
#include "coordinator/control_client.h"
#include "coordinator/http_common.h"
#include "coordinator/metrics_text.h"
#include "coordinator/names.h"
#include "coordinator/oip_json.h"
#include "coordinator/repository_api.h"
#include "coordinator/speaker_api.h"
#include "coordinator/token.h"

namespace chorus::coordinator {

namespace {

using nlohmann::json;

// JSON text for a reply; bytes that are not UTF-8 (a client's model name, say) become U+FFFD instead of throwing.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void Error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  if (status == 429) res.set_header("Retry-After", "1");
  res.set_content(Dump(json{{"error", message}}), "application/json");
}


}  // namespace

struct Gateway::Impl {
  GatewayOptions options;
  Broker* broker = nullptr;
  std::unique_ptr<httplib::Server> server;
  std::unique_ptr<SpeakerApi> speaker_api;
  std::thread thread;
  int port = 0;

  // The bearer token's role may do `action` on `target`; else a 401 or 403 is written.
  bool Authorized(const httplib::Request& req, httplib::Response& res, Action action, const Target& target = {}) {
    const Status s = BearerPermit(*options.credentials, req.get_header_value("Authorization"), action, target);
    if (s.ok()) return true;
    Error(res, HttpStatusOf(s), s.message());
    return false;
  }
  static Target OnModel(const std::string& model) { return {"", 0, 0, model}; }

  // What the workers say of `model` (of `version` when it is not 0: a
  // version served now); `versions` lists the versions served now.
  bool Known(const std::string& model, int64_t version, proto::ServedModelInfo* info, int* workers,
             std::set<int64_t>* versions = nullptr) {
    BrokerSnapshot s = broker->Snapshot();
    const ModelStats stats = s.models.count(model) ? s.models[model] : ModelStats();
    *workers = stats.workers;
    if (versions) *versions = stats.versions;
    if (version == 0) {
      auto it = s.model_info.find(model);
      // Known while deployed (even scaled to zero) or served by someone.
      if (it == s.model_info.end() || (stats.workers == 0 && !s.expected.count(model))) return false;
      *info = it->second;
      return true;
    }
    if (!stats.versions.count(version)) return false;
    *info = s.version_info[model][version];
    return true;
  }

  // The route's optional /versions/{v}: 0 when absent; -1 (and a 400 written) when not a positive integer.
  static int64_t RouteVersion(const httplib::Request& req, httplib::Response& res) {
    if (req.matches.size() < 3 || !req.matches[2].matched) return 0;
    const std::string v = req.matches[2];
    const int64_t version = ParseVersion(v);
    if (version == 0) Error(res, 400, "a model version is a positive integer; got '" + v + "'");
    return version > 0 ? version : -1;
  }

  // Writes the 404 for an unknown model or version and returns false.
  static bool Unknown(httplib::Response& res, const std::string& model, int64_t version) {
    Error(res, 404, "unknown model '" + model + "'" + (version ? " version " + std::to_string(version) : ""));
    return false;
  }

  void Infer(const httplib::Request& req, httplib::Response& res) {
    if (!Authorized(req, res, Action::kInfer, OnModel(req.matches[1]))) return;
    // Deployed names pass ValidateName; anything else (bytes that are not UTF-8 would not even fit the proto) is unknown.
    if (!ValidateName("model", req.matches[1]).ok())
      return Error(res, 404, "unknown model '" + std::string(req.matches[1]) + "'");
    const int64_t version = RouteVersion(req, res);
    if (version < 0) return;
    proto::InferRequest r;
    r.set_model(req.matches[1]);
    r.set_version(version);
    r.set_token(options.token);
    std::vector<std::string> outputs;
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("audio/", 0) == 0 || type == "application/octet-stream") {
      if (req.body.empty()) return Error(res, 400, "empty audio body");
      r.set_wav(req.body);
      if (req.has_param("top_k")) r.set_top_k(std::atoi(req.get_param_value("top_k").c_str()));
    } else if (Status s = ParseInferJson(req.body, &r, &outputs); !s.ok()) {
      return Error(res, 400, s.message());
    }
    proto::InferReply reply;
    if (Status s = CallBroker(r, &reply); !s.ok()) return Error(res, 503, "broker: " + s.message());
    if (reply.code() != "OK") return Error(res, HttpStatusOf(reply.code()), reply.error());
    Result<json> body = ReplyJson(reply, outputs);
    if (!body.ok()) return Error(res, 400, body.status().message());
    res.set_content(Dump(*body), "application/json");
  }

  // Sends `r` to the broker on this thread's client socket (the deadline: the request's, or the default).
  Status CallBroker(proto::InferRequest& r, proto::InferReply* reply) {
    const int64_t timeout = r.timeout_ms() > 0 ? r.timeout_ms() : options.timeout.count();
    r.set_timeout_ms(timeout);
    thread_local std::unique_ptr<net::RpcClient> client;
    return ThreadClient(client, {options.broker_endpoint, std::chrono::milliseconds(timeout + 2000), options.broker_curve})
        .Call(r, reply);
  }

  // The calling thread's client of `endpoint`, kept in `slot` (a thread_local
  // of the caller's), made on first use: REQ sockets belong to one thread.
  static net::RpcClient& ThreadClient(std::unique_ptr<net::RpcClient>& slot, const net::RpcClientOptions& options) {
    if (!slot || slot->endpoint() != options.endpoint) slot = std::make_unique<net::RpcClient>(options);
    return *slot;
  }

  // ---- the model repository extension ----

  // One control request to the coordinator (what `chorus deploy` sends), on
  // this thread's client socket, with the caller's own token: the job API
  // checks its role again and audits the action as the caller's.
  Result<proto::Reply> Control(const std::string& caller_token, const proto::Request& request) {
    return ControlClient(options.control_endpoint, caller_token, options.broker_curve).Call(request);
  }

  void Repository(const httplib::Request& req, httplib::Response& res, const std::string& action) {
    if (!Authorized(req, res, action == "index" ? Action::kServingStatus : Action::kManageServing)) return;
    const std::string caller = req.get_header_value("Authorization").substr(std::string("Bearer ").size());
    RepositoryApi repository_api(options.model_repository,
                                 [this, &caller](const proto::Request& r) { return Control(caller, r); });
    json body = json::object();
    if (!req.body.empty()) {
      if (Status s = CheckJsonDepth(req.body, kMaxJsonDepth); !s.ok()) return Error(res, 400, s.message());
      body = json::parse(req.body, nullptr, false);
      if (!body.is_object()) return Error(res, 400, "the body must be a JSON object");
    }
    if (action == "index") {
      if (body.contains("ready") && !body["ready"].is_boolean()) return Error(res, 400, "ready must be a boolean");
      return Reply(res, repository_api.Index(body.value("ready", false)));
    }
    const std::string model = req.matches[1];
    if (action == "unload") return Reply(res, repository_api.Unload(model));
    return Reply(res, repository_api.Load(model, body.contains("parameters") ? body["parameters"] : json::object()));
  }

  // ---- the speaker extension ----

  Result<std::vector<float>> Embed(const std::string& model, const std::string& audio) {
    proto::InferRequest r;
    r.set_model(model);
    r.set_token(options.token);
    r.set_wav(audio);
    proto::InferReply reply;
    if (Status s = CallBroker(r, &reply); !s.ok()) return Unavailable("broker: " + s.message());
    if (reply.code() != "OK") return Status(StatusCodeFromName(reply.code()), reply.error());
    const proto::NamedTensor* e = tasks::FindOutput(reply, "embedding");
    if (!e) return Internal("model '" + model + "' answered without an embedding");
    return std::vector<float>(e->fp32().begin(), e->fp32().end());
  }

  Result<EmbedModelFacts> Facts(const std::string& model) {
    proto::ServedModelInfo info;
    int workers = 0;
    if (!Known(model, 0, &info, &workers)) return NotFound("unknown model '" + model + "'");
    EmbedModelFacts facts;
    facts.task = info.task();
    const json p = json::parse(info.parameters_json().empty() ? "{}" : info.parameters_json(), nullptr, false);
    if (p.is_object() && p.contains("threshold") && p["threshold"].is_number()) facts.threshold = p["threshold"];
    return facts;
  }

  // The utterances of a request: its multipart "audio" parts, or its body.
  static Result<std::vector<std::string>> Utterances(const httplib::Request& req) {
    std::vector<std::string> out;
    if (req.is_multipart_form_data()) {
      for (auto [it, end] = req.files.equal_range("audio"); it != end; ++it) out.push_back(it->second.content);
      if (out.empty()) return InvalidArgument("the multipart body has no 'audio' part");
    } else if (!req.body.empty()) {
      out.push_back(req.body);
    }
    return out;
  }

  void Reply(httplib::Response& res, const Result<json>& result) {
    if (!result.ok()) return Error(res, HttpStatusOf(result.status()), result.status().message());
    res.set_content(Dump(*result), "application/json");
  }

  // Any speaker operation is use of the model: an infer credential for it may.
  void Speakers(const httplib::Request& req, httplib::Response& res, const std::string& action) {
    if (!Authorized(req, res, Action::kInfer, OnModel(req.matches[1]))) return;
    if (!speaker_api) return Error(res, 404, "this coordinator keeps no speaker registry");
    const std::string model = req.matches[1];
    if (action == "list") return Reply(res, speaker_api->List(model));
    if (action == "delete") return Reply(res, speaker_api->Delete(model, req.matches[2]));
    Result<std::vector<std::string>> audio = Utterances(req);
    if (!audio.ok()) return Error(res, 400, audio.status().message());
    if (action == "enrol") return Reply(res, speaker_api->Enrol(model, req.matches[2], *audio));
    if (audio->size() != 1) return Error(res, 400, "send exactly one utterance (got " + std::to_string(audio->size()) + ")");
    if (action == "verify") return Reply(res, speaker_api->Verify(model, req.matches[2], audio->front()));
    int top_k = 3;
    if (req.has_param("top_k")) {
      const std::string k = req.get_param_value("top_k");
      if (k.empty() || k.size() > 3 || k.find_first_not_of("0123456789") != std::string::npos)
        return Error(res, 400, "top_k must be an integer in [1, 100]");
      top_k = std::stoi(k);
    }
    return Reply(res, speaker_api->Identify(model, audio->front(), top_k));
  }
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() {
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int Gateway::port() const { return impl_->port; }

Result<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options, Broker& broker) {
  if (!options.credentials) return InvalidArgument("the gateway needs credentials to check tokens");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->broker = &broker;
  Impl* g = impl.get();
  ASSIGN_OR_RETURN(g->server, MakeHttpServer(g->options.tls));
  httplib::Server& s = *g->server;
  s.set_payload_max_length(g->options.max_body_bytes);
  // A reply's header and body are two small writes: without TCP_NODELAY the
  // second waits for the client's delayed ACK (~40 ms per keep-alive request).
  // Set on the listening socket, which accepted connections inherit. (Not
  // through CPPHTTPLIB_TCP_NODELAY: Debian's cpp-httplib is a compiled library.)
  s.set_tcp_nodelay(true);
  // cpp-httplib serves a connection per thread; with its default 8, eight
  // connections that send a header line now and then shut everyone out
  // (health and metrics included). More threads raise that bar, and let
  // requests reach the broker's queue, deadline and 429 instead of waiting
  // unseen in the accept queue. (An asynchronous server removes the bar:
  // not done yet.)
  const size_t threads = g->options.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(5, 0);
  // Runs after the headers and before any body is read: a request that
  // carries a body is authorised first, and must say how long it is, so
  // max_body_bytes holds before a byte is buffered (cpp-httplib 0.11 reads a
  // chunked body whole, past its own limit). A refused body is never read,
  // so the connection closes after the answer.
  s.set_pre_routing_handler([g](const httplib::Request& req, httplib::Response& res) {
    if (req.method != "POST" && req.method != "PUT") return httplib::Server::HandlerResponse::Unhandled;
    Result<Principal> who = BearerPrincipal(*g->options.credentials, req.get_header_value("Authorization"));
    if (!who.ok()) Error(res, 401, who.status().message());
    bool refused = !who.ok();
    if (!refused && req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos) {
      Error(res, 411, "send the body with a Content-Length (chunked bodies are refused)");
      refused = true;
    } else if (!refused && !req.has_header("Content-Length")) {  // cpp-httplib would answer a bare 400
      Error(res, 411, "send a Content-Length (0 for no body; curl: -d '')");
      refused = true;
    }
    if (!refused) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.Get("/v2/health/live", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"live":true})", "application/json");
  });
  s.Get("/v2/health/ready", [g](const httplib::Request&, httplib::Response& res) {
    int workers = 0;
    for (const auto& w : g->broker->Snapshot().workers) workers += !w.draining;
    res.status = workers > 0 ? 200 : 503;
    res.set_content(json{{"ready", workers > 0}, {"workers", workers}}.dump(), "application/json");
  });
  // Every model route also answers under /versions/{v} (OIP v2).
  const std::string model_route = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
  s.Get(model_route + "/ready", [g](const httplib::Request& req, httplib::Response& res) {
    if (!g->Authorized(req, res, Action::kInfer, Impl::OnModel(req.matches[1]))) return;
    const int64_t version = Impl::RouteVersion(req, res);
    if (version < 0) return;
    proto::ServedModelInfo info;
    int workers = 0;
    if (!g->Known(req.matches[1], version, &info, &workers)) return (void)Impl::Unknown(res, req.matches[1], version);
    res.status = workers > 0 ? 200 : 503;
    res.set_content(Dump(json{{"name", info.name()}, {"ready", workers > 0}, {"workers", workers}}),
                    "application/json");
  });
  s.Get(model_route, [g](const httplib::Request& req, httplib::Response& res) {
    if (!g->Authorized(req, res, Action::kInfer, Impl::OnModel(req.matches[1]))) return;
    const int64_t version = Impl::RouteVersion(req, res);
    if (version < 0) return;
    proto::ServedModelInfo info;
    int workers = 0;
    std::set<int64_t> served;
    if (!g->Known(req.matches[1], version, &info, &workers, &served))
      return (void)Impl::Unknown(res, req.matches[1], version);
    if (served.empty()) served.insert(info.version());  // scaled to zero: the last one seen
    std::vector<std::string> versions;
    for (int64_t v : served) versions.push_back(std::to_string(v));
    auto specs = [](const auto& list) {
      json out = json::array();
      for (const auto& s : list)
        out.push_back({{"name", s.name()},
                       {"datatype", s.datatype()},
                       {"shape", std::vector<int64_t>(s.shape().begin(), s.shape().end())}});
      return out;
    };
    // The model's task declares its inputs, outputs and parameters.
    json parameters = json::parse(info.parameters_json().empty() ? "{}" : info.parameters_json(), nullptr, false);
    if (!parameters.is_object()) parameters = json::object();
    parameters["task"] = info.task();
    parameters["sample_rate"] = info.sample_rate();
    parameters["clip_seconds"] = info.clip_seconds();
    parameters["workers"] = workers;
    res.set_content(Dump(json{{"name", info.name()},
                              {"versions", versions},
                              {"platform", info.format() == "torchscript" ? "pytorch_torchscript" : "chorus"},
                              {"inputs", specs(info.inputs())},
                              {"outputs", specs(info.outputs())},
                              {"parameters", parameters}}),
                    "application/json");
  });
  s.Post(model_route + "/infer", [g](const httplib::Request& req, httplib::Response& res) { g->Infer(req, res); });
  if (g->options.speakers) {
    g->speaker_api = std::make_unique<SpeakerApi>(
        *g->options.speakers, [g](const std::string& m, const std::string& a) { return g->Embed(m, a); },
        [g](const std::string& m) { return g->Facts(m); });
  }
  s.Post("/v2/repository/index",
         [g](const httplib::Request& req, httplib::Response& res) { g->Repository(req, res, "index"); });
  s.Post(R"(/v2/repository/models/([^/]+)/load)",
         [g](const httplib::Request& req, httplib::Response& res) { g->Repository(req, res, "load"); });
  s.Post(R"(/v2/repository/models/([^/]+)/unload)",
         [g](const httplib::Request& req, httplib::Response& res) { g->Repository(req, res, "unload"); });
  s.Get("/v2", [g](const httplib::Request&, httplib::Response& res) {
    json extensions = json::array({"model_repository"});
    if (g->speaker_api) extensions.push_back("chorus_speakers");
    res.set_content(json{{"name", "chorus"}, {"version", "0.1.0"}, {"extensions", extensions}}.dump(),
                    "application/json");
  });
  const std::string speaker = R"(/v2/models/([^/]+)/speakers/([A-Za-z0-9._-]+))";
  s.Get(R"(/v2/models/([^/]+)/speakers)",
        [g](const httplib::Request& req, httplib::Response& res) { g->Speakers(req, res, "list"); });
  auto enrol = [g](const httplib::Request& req, httplib::Response& res) { g->Speakers(req, res, "enrol"); };
  s.Put(speaker, enrol);
  s.Post(speaker, enrol);
  s.Delete(speaker, [g](const httplib::Request& req, httplib::Response& res) { g->Speakers(req, res, "delete"); });
  s.Post(speaker + "/verify", [g](const httplib::Request& req, httplib::Response& res) { g->Speakers(req, res, "verify"); });
  s.Post(R"(/v2/models/([^/]+)/identify)",
         [g](const httplib::Request& req, httplib::Response& res) { g->Speakers(req, res, "identify"); });
  s.Get("/metrics", [g](const httplib::Request&, httplib::Response& res) {
    res.set_content(RenderMetrics(g->broker->Snapshot()), "text/plain; version=0.0.4");
  });
  if (g->options.mount) g->options.mount(s);
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 413) return Error(res, 413, "body too large");
    if (res.body.empty()) Error(res, res.status, res.status == 404 ? "no such endpoint" : "request failed");
  });
  g->port = g->options.port == 0 ? s.bind_to_any_port(g->options.host)
                                 : (s.bind_to_port(g->options.host, g->options.port) ? g->options.port : -1);
  if (g->port <= 0)
    return Unavailable("cannot listen for HTTP on " + g->options.host + ":" + std::to_string(g->options.port));
  g->thread = std::thread([g] { g->server->listen_after_bind(); });
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

}  // namespace chorus::coordinator
