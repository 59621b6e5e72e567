#include "coordinator/serving/gateway.h"

#include <algorithm>
#include <future>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/net/http_server.h"
#include "common/net/multipart.h"
#include "common/proto/serve.pb.h"
#include "common/tasks/outputs.h"
#include "coordinator/control_client.h"
#include "coordinator/http_common.h"
#include "coordinator/names.h"
#include "coordinator/serving/metrics_text.h"
#include "coordinator/serving/oip_json.h"
#include "coordinator/serving/repository_api.h"
#include "coordinator/serving/speaker_api.h"
#include "coordinator/token.h"

namespace chorus::coordinator {

namespace {

using nlohmann::json;

// JSON text for a reply; bytes that are not UTF-8 (a client's model name, say) become U+FFFD instead of throwing.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

struct Gateway::Impl {
  GatewayOptions options;
  Broker* broker = nullptr;
  std::unique_ptr<net::HttpServer> server;
  std::unique_ptr<SpeakerApi> speaker_api;
  int port = 0;

  // The bearer token's role may do `action` on `target`; else a 401 or 403 is written.
  bool Authorized(const net::HttpRequest& req, net::HttpResponse& res, Action action, const Target& target = {}) {
    const Status s = BearerPermit(*options.credentials, req.header("Authorization"), action, target);
    if (s.ok()) return true;
    JsonError(res, HttpStatusOf(s), s.message());
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
  static int64_t RouteVersion(const net::HttpRequest& req, net::HttpResponse& res) {
    if (req.matches.size() < 3 || req.matches[2].empty()) return 0;
    const std::string v = req.matches[2];
    const int64_t version = ParseVersion(v);
    if (version == 0) JsonError(res, 400, "a model version is a positive integer; got '" + v + "'");
    return version > 0 ? version : -1;
  }

  // Writes the 404 for an unknown model or version and returns false.
  static bool Unknown(net::HttpResponse& res, const std::string& model, int64_t version) {
    JsonError(res, 404, "unknown model '" + model + "'" + (version ? " version " + std::to_string(version) : ""));
    return false;
  }

  void Infer(const net::HttpRequest& req, net::HttpResponse& res) {
    if (!Authorized(req, res, Action::kInfer, OnModel(req.matches[1]))) return;
    // Deployed names pass ValidateName; anything else (bytes that are not UTF-8 would not even fit the proto) is unknown.
    if (!ValidateName("model", req.matches[1]).ok())
      return JsonError(res, 404, "unknown model '" + std::string(req.matches[1]) + "'");
    const int64_t version = RouteVersion(req, res);
    if (version < 0) return;
    proto::InferRequest r;
    r.set_model(req.matches[1]);
    r.set_version(version);
    r.set_token(options.token);
    std::vector<std::string> outputs;
    const std::string type = req.header("Content-Type");
    if (type.rfind("audio/", 0) == 0 || type == "application/octet-stream") {
      if (req.body.empty()) return JsonError(res, 400, "empty audio body");
      r.set_wav(req.body);
      if (req.has_param("top_k")) r.set_top_k(std::atoi(req.param("top_k").c_str()));
    } else if (Status s = ParseInferJson(req.body, &r, &outputs); !s.ok()) {
      return JsonError(res, 400, s.message());
    }
    // The deadline counts from the request's arrival, not from when a thread took it.
    const int64_t timeout = r.timeout_ms() > 0 ? r.timeout_ms() : options.timeout.count();
    const int64_t waited = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - req.arrived).count();
    if (waited >= timeout)
      return JsonError(res, 504, "the request waited " + std::to_string(waited) + " ms for the gateway, past its " +
                                     std::to_string(timeout) + " ms deadline");
    r.set_timeout_ms(timeout - waited);
    proto::InferReply reply;
    if (Status s = CallBroker(r, &reply); !s.ok()) return JsonError(res, 503, "broker: " + s.message());
    if (reply.code() != "OK") return JsonError(res, HttpStatusOf(reply.code()), reply.error());
    Result<json> body = ReplyJson(reply, outputs);
    if (!body.ok()) return JsonError(res, 400, body.status().message());
    res.Set(Dump(*body), "application/json");
  }

  // Submits `r` to the broker in process and waits for its answer (the
  // deadline: the request's, or the default; the broker answers by then).
  Status CallBroker(proto::InferRequest& r, proto::InferReply* reply) {
    const int64_t timeout = r.timeout_ms() > 0 ? r.timeout_ms() : options.timeout.count();
    r.set_timeout_ms(timeout);
    auto answer = std::make_shared<std::promise<proto::InferReply>>();
    std::future<proto::InferReply> answered = answer->get_future();
    broker->Submit(std::move(r), [answer](proto::InferReply a) { answer->set_value(std::move(a)); });
    // The broker answers every request by its deadline; the margin only
    // covers a broker that has stopped turning.
    if (answered.wait_for(std::chrono::milliseconds(timeout + 2000)) != std::future_status::ready)
      return Unavailable("no answer from the broker within " + std::to_string(timeout + 2000) + " ms");
    *reply = answered.get();
    return Status::Ok();
  }

  // ---- the model repository extension ----

  // One control request to the coordinator (what `chorus deploy` sends), on
  // this thread's client socket, with the caller's own token: the job API
  // checks its role again and audits the action as the caller's.
  Result<proto::Reply> Control(const std::string& caller_token, const proto::Request& request) {
    return ControlClient(options.control_endpoint, caller_token, options.control_curve).Call(request);
  }

  void Repository(const net::HttpRequest& req, net::HttpResponse& res, const std::string& action) {
    if (!Authorized(req, res, action == "index" ? Action::kServingStatus : Action::kManageServing)) return;
    const std::string caller = req.header("Authorization").substr(std::string("Bearer ").size());
    RepositoryApi repository_api(options.model_repository,
                                 [this, &caller](const proto::Request& r) { return Control(caller, r); });
    json body = json::object();
    if (!req.body.empty()) {
      if (Status s = CheckJsonDepth(req.body, kMaxJsonDepth); !s.ok()) return JsonError(res, 400, s.message());
      body = json::parse(req.body, nullptr, false);
      if (!body.is_object()) return JsonError(res, 400, "the body must be a JSON object");
    }
    if (action == "index") {
      if (body.contains("ready") && !body["ready"].is_boolean()) return JsonError(res, 400, "ready must be a boolean");
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
  static Result<std::vector<std::string>> Utterances(const net::HttpRequest& req) {
    std::vector<std::string> out;
    const std::string type = req.header("Content-Type");
    if (net::IsMultipartFormData(type)) {
      ASSIGN_OR_RETURN(std::vector<net::MultipartPart> parts, net::ParseMultipart(type, req.body));
      for (net::MultipartPart& part : parts)
        if (part.name == "audio") out.push_back(std::move(part.content));
      if (out.empty()) return InvalidArgument("the multipart body has no 'audio' part");
    } else if (!req.body.empty()) {
      out.push_back(req.body);
    }
    return out;
  }

  void Reply(net::HttpResponse& res, const Result<json>& result) {
    if (!result.ok()) return JsonError(res, HttpStatusOf(result.status()), result.status().message());
    res.Set(Dump(*result), "application/json");
  }

  // Any speaker operation is use of the model: an infer credential for it may.
  void Speakers(const net::HttpRequest& req, net::HttpResponse& res, const std::string& action) {
    if (!Authorized(req, res, Action::kInfer, OnModel(req.matches[1]))) return;
    if (!speaker_api) return JsonError(res, 404, "this coordinator keeps no speaker registry");
    const std::string model = req.matches[1];
    if (action == "list") return Reply(res, speaker_api->List(model));
    if (action == "delete") return Reply(res, speaker_api->Delete(model, req.matches[2]));
    Result<std::vector<std::string>> audio = Utterances(req);
    if (!audio.ok()) return JsonError(res, 400, audio.status().message());
    if (action == "enrol") return Reply(res, speaker_api->Enrol(model, req.matches[2], *audio));
    if (audio->size() != 1) return JsonError(res, 400, "send exactly one utterance (got " + std::to_string(audio->size()) + ")");
    if (action == "verify") return Reply(res, speaker_api->Verify(model, req.matches[2], audio->front()));
    int top_k = 3;
    if (req.has_param("top_k")) {
      const std::string k = req.param("top_k");
      if (k.empty() || k.size() > 3 || k.find_first_not_of("0123456789") != std::string::npos)
        return JsonError(res, 400, "top_k must be an integer in [1, 100]");
      top_k = std::stoi(k);
    }
    return Reply(res, speaker_api->Identify(model, audio->front(), top_k));
  }
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { impl_->server->Stop(); }

int Gateway::port() const { return impl_->port; }

Result<std::unique_ptr<Gateway>> Gateway::Start(GatewayOptions options, Broker& broker) {
  if (!options.credentials) return InvalidArgument("the gateway needs credentials to check tokens");
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->broker = &broker;
  Impl* g = impl.get();
  net::HttpServerOptions http;
  http.host = g->options.host;
  http.port = g->options.port;
  http.tls_cert = g->options.tls.cert;
  http.tls_key = g->options.tls.key;
  http.handler_threads = g->options.threads;
  http.max_queued = g->options.max_queued;
  http.max_body_bytes = g->options.max_body_bytes;
  http.error = JsonError;
  // A request that carries a body is authorised from its headers, before a
  // byte of the body is read or buffered.
  http.before_body = [g](const net::HttpRequest& req, net::HttpResponse& res) {
    Result<Principal> who = BearerPrincipal(*g->options.credentials, req.header("Authorization"));
    if (!who.ok()) JsonError(res, 401, who.status().message());
    return who.ok();
  };
  g->server = std::make_unique<net::HttpServer>(std::move(http));
  net::HttpServer& s = *g->server;
  constexpr bool kInline = true;  // cheap and non-blocking: answered on the I/O thread, even when every handler is busy
  s.Get("/v2/health/live", [](const net::HttpRequest&, net::HttpResponse& res) {
    res.Set(R"({"live":true})", "application/json");
  }, kInline);
  s.Get("/v2/health/ready", [g](const net::HttpRequest&, net::HttpResponse& res) {
    int workers = 0;
    for (const auto& w : g->broker->Snapshot().workers) workers += !w.draining;
    res.status = workers > 0 ? 200 : 503;
    res.Set(json{{"ready", workers > 0}, {"workers", workers}}.dump(), "application/json");
  }, kInline);
  // Every model route also answers under /versions/{v} (OIP v2).
  const std::string model_route = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
  s.Get(model_route + "/ready", [g](const net::HttpRequest& req, net::HttpResponse& res) {
    if (!g->Authorized(req, res, Action::kInfer, Impl::OnModel(req.matches[1]))) return;
    const int64_t version = Impl::RouteVersion(req, res);
    if (version < 0) return;
    proto::ServedModelInfo info;
    int workers = 0;
    if (!g->Known(req.matches[1], version, &info, &workers)) return (void)Impl::Unknown(res, req.matches[1], version);
    res.status = workers > 0 ? 200 : 503;
    res.Set(Dump(json{{"name", info.name()}, {"ready", workers > 0}, {"workers", workers}}),
                    "application/json");
  });
  s.Get(model_route, [g](const net::HttpRequest& req, net::HttpResponse& res) {
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
    parameters["streams"] = info.streams();  // takes sequence_id / sequence_start / sequence_end
    parameters["workers"] = workers;
    res.Set(Dump(json{{"name", info.name()},
                              {"versions", versions},
                              {"platform", info.format() == "torchscript" ? "pytorch_torchscript" : "chorus"},
                              {"inputs", specs(info.inputs())},
                              {"outputs", specs(info.outputs())},
                              {"parameters", parameters}}),
                    "application/json");
  });
  s.Post(model_route + "/infer", [g](const net::HttpRequest& req, net::HttpResponse& res) { g->Infer(req, res); });
  if (g->options.speakers) {
    g->speaker_api = std::make_unique<SpeakerApi>(
        *g->options.speakers, [g](const std::string& m, const std::string& a) { return g->Embed(m, a); },
        [g](const std::string& m) { return g->Facts(m); });
  }
  s.Post("/v2/repository/index",
         [g](const net::HttpRequest& req, net::HttpResponse& res) { g->Repository(req, res, "index"); });
  s.Post(R"(/v2/repository/models/([^/]+)/load)",
         [g](const net::HttpRequest& req, net::HttpResponse& res) { g->Repository(req, res, "load"); });
  s.Post(R"(/v2/repository/models/([^/]+)/unload)",
         [g](const net::HttpRequest& req, net::HttpResponse& res) { g->Repository(req, res, "unload"); });
  s.Get("/v2", [g](const net::HttpRequest&, net::HttpResponse& res) {
    json extensions = json::array({"model_repository"});
    if (g->speaker_api) extensions.push_back("chorus_speakers");
    res.Set(json{{"name", "chorus"}, {"version", "0.1.0"}, {"extensions", extensions}}.dump(),
                    "application/json");
  }, kInline);
  const std::string speaker = R"(/v2/models/([^/]+)/speakers/([A-Za-z0-9._-]+))";
  s.Get(R"(/v2/models/([^/]+)/speakers)",
        [g](const net::HttpRequest& req, net::HttpResponse& res) { g->Speakers(req, res, "list"); });
  auto enrol = [g](const net::HttpRequest& req, net::HttpResponse& res) { g->Speakers(req, res, "enrol"); };
  s.Put(speaker, enrol);
  s.Post(speaker, enrol);
  s.Delete(speaker, [g](const net::HttpRequest& req, net::HttpResponse& res) { g->Speakers(req, res, "delete"); });
  s.Post(speaker + "/verify", [g](const net::HttpRequest& req, net::HttpResponse& res) { g->Speakers(req, res, "verify"); });
  s.Post(R"(/v2/models/([^/]+)/identify)",
         [g](const net::HttpRequest& req, net::HttpResponse& res) { g->Speakers(req, res, "identify"); });
  s.Get("/metrics", [g](const net::HttpRequest&, net::HttpResponse& res) {
    res.Set(RenderMetrics(g->broker->Snapshot()), "text/plain; version=0.0.4");
  }, kInline);
  if (g->options.mount) g->options.mount(s);
  ASSIGN_OR_RETURN(g->port, s.Start());
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

}  // namespace chorus::coordinator
