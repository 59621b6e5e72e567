#include "coordinator/dashboard.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "common/net/http_server.h"
#include "coordinator/http_common.h"

namespace chorus::coordinator {

namespace {

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr const char* kNotBuilt = R"(<!doctype html><meta charset="utf-8"><title>Chorus</title>
<p>The dashboard's front end is not built here. Run <code>./setup.sh</code> (it bundles dashboard/ with npm into
BUILD/dashboard), or set <code>dashboard.static_dir</code>. The JSON API answers under <code>/api/v1/</code>.)";

}  // namespace

Dashboard::Dashboard(DashboardOptions options, const Credentials& credentials, ControlClient control, Broker* broker)
    : options_(std::move(options)),
      credentials_(credentials),
      control_(std::move(control)),
      broker_(broker),
      history_(options_.history_samples),
      api_([this](const proto::Request& r) { return control_.Call(r); }, broker ? &history_ : nullptr, UnixNow) {
  if (broker_) sampler_ = std::thread([this] { Sample(); });
}

Dashboard::~Dashboard() {
  stop_ = true;
  if (server_) server_->Stop();
  if (sampler_.joinable()) sampler_.join();
}

void Dashboard::Sample() {
  auto next = std::chrono::steady_clock::now();
  while (!stop_) {
    history_.Add(UnixNow(), broker_->Snapshot());
    next += options_.sample_interval;
    while (!stop_ && std::chrono::steady_clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Dashboard::Mount(net::HttpServer& server) {
  namespace fs = std::filesystem;
  const bool built = !options_.static_dir.empty() && fs::exists(fs::path(options_.static_dir) / "index.html");
  if (built) server.Mount("/dashboard/", options_.static_dir);
  server.Get("/", [](const net::HttpRequest&, net::HttpResponse& res) { res.Redirect("/dashboard/"); }, true);
  server.Get("/dashboard", [](const net::HttpRequest&, net::HttpResponse& res) { res.Redirect("/dashboard/"); }, true);
  if (!built)
    server.Get("/dashboard/", [](const net::HttpRequest&, net::HttpResponse& res) {
      res.Set(kNotBuilt, "text/html; charset=utf-8");
    }, true);
  server.Get(R"(/api/v1/.*)", [this](const net::HttpRequest& req, net::HttpResponse& res) {
    if (Status s = BearerPermit(credentials_, req.header("Authorization"), Action::kDashboard); !s.ok())
      return JsonError(res, HttpStatusOf(s), s.message());
    DashboardApi::Query query;
    for (const auto& [key, value] : req.query) query[key] = value;  // the last of repeated keys
    Result<std::string> body = api_.Get(req.path, query);
    if (!body.ok()) return JsonError(res, HttpStatusOf(body.status()), body.status().message());
    res.headers.emplace_back("Cache-Control", "no-store");
    res.Set(*body, "application/json");
  });
}

Result<int> Dashboard::Start() {
  const size_t colon = options_.listen.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("dashboard.listen must be gateway or HOST:PORT");
  net::HttpServerOptions http;
  http.host = options_.listen.substr(0, colon);
  http.port = std::atoi(options_.listen.c_str() + colon + 1);
  http.tls_cert = options_.tls.cert;
  http.tls_key = options_.tls.key;
  http.handler_threads = 4;
  http.max_body_bytes = 1 << 20;
  http.error = JsonError;
  server_ = std::make_unique<net::HttpServer>(std::move(http));
  Mount(*server_);
  return server_->Start();
}

}  // namespace chorus::coordinator
