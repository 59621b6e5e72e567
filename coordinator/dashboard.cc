#include "coordinator/dashboard.h"

#include <filesystem>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "coordinator/http_common.h"

namespace chorus::coordinator {

namespace {

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void JsonError(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
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
  if (server_) server_->stop();
  if (listener_.joinable()) listener_.join();
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

void Dashboard::Mount(httplib::Server& server) {
  namespace fs = std::filesystem;
  const bool built = !options_.static_dir.empty() && fs::exists(fs::path(options_.static_dir) / "index.html");
  if (built) server.set_mount_point("/dashboard/", options_.static_dir);
  server.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/dashboard/"); });
  server.Get("/dashboard", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/dashboard/"); });
  if (!built)
    server.Get("/dashboard/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kNotBuilt, "text/html; charset=utf-8");
    });
  server.Get(R"(/api/v1/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    if (Status s = BearerPermit(credentials_, req.get_header_value("Authorization"), Action::kDashboard); !s.ok())
      return JsonError(res, HttpStatusOf(s), s.message());
    DashboardApi::Query query;
    for (const auto& [key, value] : req.params) query[key] = value;  // the last of repeated keys
    Result<std::string> body = api_.Get(req.path, query);
    if (!body.ok()) return JsonError(res, HttpStatusOf(body.status()), body.status().message());
    res.set_header("Cache-Control", "no-store");
    res.set_content(*body, "application/json");
  });
}

Result<int> Dashboard::Start() {
  const size_t colon = options_.listen.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("dashboard.listen must be gateway or HOST:PORT");
  const std::string host = options_.listen.substr(0, colon);
  const int port = std::atoi(options_.listen.c_str() + colon + 1);
  ASSIGN_OR_RETURN(server_, MakeHttpServer(options_.tls));
  server_->set_tcp_nodelay(true);
  server_->set_read_timeout(5, 0);
  server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
  Mount(*server_);
  const int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) return Unavailable("cannot listen for the dashboard on " + options_.listen);
  listener_ = std::thread([this] { server_->listen_after_bind(); });
  return bound;
}

}  // namespace chorus::coordinator
