// Gateway: the HTTP face of the broker (net::HttpServer), speaking the Open
// Inference Protocol v2 (KServe / Triton REST):
//   GET  /v2/health/live, /v2/health/ready           open
//   GET  /v2/models/{name}, /v2/models/{name}/ready  token
//   POST /v2/models/{name}/infer                     token; JSON tensors
//        ("features" FP32 [frames, bins] or "audio" FP32 [samples] with
//        parameters.sample_rate), or a WAV body (Content-Type audio/*)
//   GET  /metrics                                    Prometheus text, open
//   GET  /v2                                         server metadata, open
// Every /v2/models/{name}... route also answers as /v2/models/{name}/versions/{v}...
// (a version served now), and infer honours the "outputs" asked for.
// The model repository extension ("model_repository", repository_api.h):
//   POST /v2/repository/index                        token; {"ready": true} for READY only
//   POST /v2/repository/models/{name}/load           token; {"parameters": {"version": V,
//                                                    "min_workers": N, "max_workers": M}}
//   POST /v2/repository/models/{name}/unload         token
// and the Chorus speaker extension ("chorus_speakers", speaker_api.h), for
// embed models, all token-protected; audio as a WAV body (one utterance) or
// multipart/form-data with one "audio" part per utterance:
//   GET    /v2/models/{name}/speakers                 the enrolled (no embeddings)
//   PUT    /v2/models/{name}/speakers/{speaker}       enrol or re-enrol (POST too)
//   DELETE /v2/models/{name}/speakers/{speaker}
//   POST   /v2/models/{name}/speakers/{speaker}/verify
//   POST   /v2/models/{name}/identify[?top_k=K]
// The token travels as "Authorization: Bearer TOKEN" and is checked by
// Credentials: model routes (metadata, ready, infer, speakers) need one that
// may infer on that model, repository index the serving view, load/unload
// admin. Errors are JSON {"error": "..."} with
// 400/401/403/404/409/413/429 (+Retry-After)/431/503/504.
// Requests go to the broker in process (Broker::Submit: no socket, no
// serialization), each waited on by a handler thread (GatewayOptions::threads
// of them; max_queued more wait, then 429). An infer's deadline counts from its arrival: one that waited past it
// for a thread is answered 504 without reaching the broker. Health, /v2 and
// /metrics answer on the I/O thread, whatever the load. A body is read only
// after its request's token passed. Start() listens on threads of its own;
// the destructor stops them.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/util/status.h"
#include "coordinator/http_common.h"
#include "coordinator/serving/broker.h"
#include "coordinator/serving/speaker_registry.h"

namespace chorus::net {
class HttpServer;
}

namespace chorus::coordinator {

struct GatewayOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port
  std::string token;             // the gateway's own (admin) token, for the broker (control requests carry the caller's)
  const Credentials* credentials = nullptr;  // required: checks the clients' bearer tokens
  net::CurveClient control_curve;  // enabled: the control endpoint speaks CURVE
  size_t max_body_bytes = 16 << 20;
  size_t threads = 128;     // requests handled at once (each may wait on the broker)
  size_t max_queued = 1024;  // complete requests waiting for a thread; then 429
  std::chrono::milliseconds timeout{10000};  // per request, unless it asks for less
  SpeakerRegistry* speakers = nullptr;       // null: no speaker routes (404)
  std::string control_endpoint;              // the coordinator's control requests (repository extension)
  std::string model_repository;              // absolute folder of NAME/VERSION models; "": load is refused
  std::function<void(net::HttpServer&)> mount;  // more routes on the same listener (the dashboard)
  TlsFiles tls;                                 // HTTPS when set
};

class Gateway {
 public:
  static Result<std::unique_ptr<Gateway>> Start(GatewayOptions options, Broker& broker);
  ~Gateway();
  int port() const;

 private:
  struct Impl;
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::coordinator
