#include "common/net/http_server.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <thread>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace chorus::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string ContentTypeOf(const std::filesystem::path& file) {
  static const std::map<std::string, std::string> types = {
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
      {".json", "application/json"}, {".map", "application/json"}, {".svg", "image/svg+xml"},
      {".png", "image/png"}, {".ico", "image/x-icon"}, {".txt", "text/plain; charset=utf-8"}};
  auto it = types.find(file.extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

void DefaultError(HttpResponse& res, int status, const std::string& message) {
  res.status = status;
  res.Set(message + "\n", "text/plain; charset=utf-8");
}

// A fixed pool of threads taking jobs from a bounded queue.
class HandlerPool {
 public:
  HandlerPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~HandlerPool() { Stop(); }
  // False when max_queued jobs already wait.
  bool TrySubmit(std::function<void()> job) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(job));
    cv_.notify_one();
    return true;
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      queue_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }
  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

std::string PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int hi = HexDigit(text[i + 1]), lo = HexDigit(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (IEquals(key, name)) return value;
  return "";
}

bool HttpRequest::has_header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (IEquals(key, name)) return true;
  return false;
}

std::string HttpRequest::param(std::string_view name) const {
  auto [begin, end] = query.equal_range(std::string(name));
  return begin == end ? "" : std::prev(end)->second;
}

struct detail::HttpServerCore {
  struct RouteEntry {
    std::string method;
    std::regex pattern;
    HttpHandler handler;
    bool inline_;
  };

  // Destroyed in reverse: threads and acceptor before the io_context, whose
  // pending handlers own the last sessions, which use what is above it.
  HttpServerOptions options;
  std::vector<RouteEntry> routes;
  std::vector<std::pair<std::string, std::filesystem::path>> mounts;
  int port = 0;
  std::atomic<uint64_t> requests{0}, refused_busy{0}, closed_slow{0}, open{0};
  std::atomic<bool> stopped{false};
  std::optional<asio::ssl::context> ssl;
  asio::io_context ioc;
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<HandlerPool> pool;
  std::vector<std::thread> io_threads;

  void Error(HttpResponse& res, int status, const std::string& message) const {
    res = HttpResponse();
    (options.error ? options.error : DefaultError)(res, status, message);
    res.status = status;
    const bool has_retry = std::any_of(res.headers.begin(), res.headers.end(),
                                       [](const auto& h) { return IEquals(h.first, "Retry-After"); });
    if ((status == 429 || status == 503) && !has_retry) res.headers.emplace_back("Retry-After", "1");
  }

  // The route for `req` (its groups set into req.matches), or null.
  const RouteEntry* Find(HttpRequest& req) const {
    std::smatch m;
    for (const RouteEntry& r : routes) {
      if (r.method != req.method || !std::regex_match(req.path, m, r.pattern)) continue;
      req.matches.clear();
      for (size_t i = 0; i < m.size(); ++i) req.matches.push_back(m[i].matched ? m[i].str() : "");
      return &r;
    }
    return nullptr;
  }

  // The file a mount serves for `path`, if any.
  bool ServeFile(const HttpRequest& req, HttpResponse& res) const {
    if (req.method != "GET") return false;
    for (const auto& [prefix, dir] : mounts) {
      if (req.path.rfind(prefix, 0) != 0) continue;
      const std::string rel = req.path.substr(prefix.size());
      std::filesystem::path file = dir;
      std::stringstream parts(rel);
      for (std::string part; std::getline(parts, part, '/');) {
        if (part == ".." || part.find('\0') != std::string::npos) {
          Error(res, 404, "no such file");
          return true;
        }
        if (!part.empty() && part != ".") file /= part;
      }
      std::error_code ec;
      if (std::filesystem::is_directory(file, ec)) file /= "index.html";
      std::ifstream in(file, std::ios::binary);
      if (!in || !std::filesystem::is_regular_file(file, ec)) {
        Error(res, 404, "no such file: " + req.path);
        return true;
      }
      std::ostringstream body;
      body << in.rdbuf();
      res.status = 200;
      res.Set(body.str(), ContentTypeOf(file));
      return true;
    }
    return false;
  }

  // Runs the route (or mount) for a complete request, then `done` with the answer.
  void Handle(HttpRequest req, std::function<void(HttpResponse)> done) {
    ++requests;
    HttpResponse res;
    const RouteEntry* route = Find(req);
    if (!route) {
      if (!ServeFile(req, res)) Error(res, 404, "no such endpoint: " + req.method + " " + req.path);
      return done(std::move(res));
    }
    auto run = [this, route, req = std::move(req), done]() mutable {
      HttpResponse res;
      try {
        route->handler(req, res);
      } catch (const std::exception& e) {
        Error(res, 500, std::string("internal error: ") + e.what());
      }
      done(std::move(res));
    };
    if (route->inline_) return run();
    auto shared = std::make_shared<decltype(run)>(std::move(run));
    if (!pool->TrySubmit([shared] { (*shared)(); })) {
      ++refused_busy;
      Error(res, 429, "the server is busy: every handler thread is taken and " +
                          std::to_string(options.max_queued) + " requests wait; retry later");
      done(std::move(res));
    }
  }
};

namespace {

constexpr size_t kBodyReadRoom = 256 << 10;

// One connection, plain or TLS; its handlers run on its strand.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(detail::HttpServerCore& server, Args&&... args) : server_(server), stream_(std::forward<Args>(args)...) {
    ++server_.open;
    beast::error_code ec;
    const auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = endpoint.address().to_string();
  }
  ~Session() { --server_.open; }

  void Start() {
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      ReadHeader();
    } else {
      beast::get_lowest_layer(stream_).expires_after(server_.options.header_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (!ec) self->ReadHeader();
                              });
    }
  }

 private:
  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(server_.options.max_body_bytes);
    beast::get_lowest_layer(stream_).expires_after(server_.options.header_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // An error while reading: answer it when it is the client's fault and the connection still works.
  void OnReadError(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      ++server_.closed_slow;
      return;  // the stream is closed already
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted || ec == asio::ssl::error::stream_truncated)
      return;
    HttpResponse res;
    if (ec == http::error::header_limit)
      server_.Error(res, 431, "the request's headers are over " + std::to_string(server_.options.max_header_bytes) +
                                  " bytes");
    else if (ec == http::error::body_limit)
      server_.Error(res, 413, "the body is over " + std::to_string(server_.options.max_body_bytes) + " bytes");
    else
      server_.Error(res, 400, "malformed HTTP request: " + ec.message());
    res.close = true;
    Write(std::move(res));
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    arrived_ = Clock::now();
    const auto& header = parser_->get();
    request_ = HttpRequest();
    request_.method = std::string(header.method_string());
    request_.target = std::string(header.target());
    request_.remote = remote_;
    request_.arrived = arrived_;
    const std::string_view target(request_.target);
    const size_t q = target.find('?');
    request_.path = PercentDecode(target.substr(0, q), false);
    if (q != std::string_view::npos) {
      std::stringstream pairs{std::string(target.substr(q + 1))};
      for (std::string pair; std::getline(pairs, pair, '&');) {
        if (pair.empty()) continue;
        const size_t eq = pair.find('=');
        request_.query.emplace(PercentDecode(pair.substr(0, eq), true),
                               eq == std::string::npos ? "" : PercentDecode(pair.substr(eq + 1), true));
      }
    }
    for (const auto& field : header)
      request_.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    keep_alive_ = header.keep_alive();
    if (parser_->is_done()) return Dispatch();
    if (server_.options.before_body) {
      HttpResponse res;
      if (!server_.options.before_body(request_, res)) {
        res.close = true;  // its body is never read
        return Write(std::move(res));
      }
    }
    // Beast reads no more than the buffer's free room at a time (512 bytes
    // when it is full): room for big reads makes a 32 KB body ~3x faster.
    const auto length = parser_->content_length();
    buffer_.reserve(std::min<size_t>(length ? static_cast<size_t>(*length) : kBodyReadRoom, kBodyReadRoom));
    beast::get_lowest_layer(stream_).expires_after(server_.options.body_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->OnReadError(ec);
      self->Dispatch();
    });
  }

  void Dispatch() {
    request_.body = std::move(parser_->get().body());
    if (buffer_.capacity() > kBodyReadRoom / 4) buffer_.shrink_to_fit();  // idle connections keep little
    beast::get_lowest_layer(stream_).expires_never();
    auto self = this->shared_from_this();
    server_.Handle(std::move(request_), [self](HttpResponse res) {
      // From a handler thread: back onto the connection's strand.
      asio::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable { self->Write(std::move(res)); });
    });
  }

  void Write(HttpResponse res) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(res.status));
    response_.set(http::field::server, "chorus");
    response_.set(http::field::content_type, res.content_type);
    for (const auto& [key, value] : res.headers) response_.set(key, value);
    response_.body() = std::move(res.body);
    close_ = res.close || !keep_alive_;
    response_.keep_alive(!close_);
    response_.prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(server_.options.write_timeout);
    http::async_write(stream_, response_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return;
      if (self->close_) return self->Close();
      self->ReadHeader();
    });
  }

  void Close() {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      // Closing with unread bytes would send a reset that can destroy the
      // answer before the client reads it (a refused body is never read):
      // end our side, then read and discard for a moment (a lingering close).
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream_.expires_after(std::chrono::seconds(2));
      scratch_.resize(16384);
      Drain();
    } else {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(1));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    }
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(scratch_), [self = this->shared_from_this()](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (!ec && self->drained_ < (4u << 20)) self->Drain();
    });
  }

  detail::HttpServerCore& server_;
  Stream stream_;
  std::vector<char> scratch_;  // only while draining
  size_t drained_ = 0;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  HttpRequest request_;
  http::response<http::string_body> response_;
  Clock::time_point arrived_;
  bool keep_alive_ = true;
  bool close_ = false;
};

void Accept(detail::HttpServerCore& server) {
  server.acceptor->async_accept(asio::make_strand(server.ioc), [&server](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || server.stopped) return;
    if (!ec) {
      if (server.open >= server.options.max_connections) {
        socket.close(ec);
      } else {
        socket.set_option(tcp::no_delay(true), ec);
        if (server.ssl)
          std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(server, std::move(socket), *server.ssl)
              ->Start();
        else
          std::make_shared<Session<beast::tcp_stream>>(server, std::move(socket))->Start();
      }
    }
    Accept(server);
  });
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options) : impl_(std::make_unique<detail::HttpServerCore>()) {
  impl_->options = std::move(options);
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(const std::string& method, const std::string& path_regex, HttpHandler handler, bool inline_) {
  impl_->routes.push_back({method, std::regex(path_regex), std::move(handler), inline_});
}

void HttpServer::Mount(const std::string& prefix, const std::string& dir) { impl_->mounts.emplace_back(prefix, dir); }

Result<int> HttpServer::Start() {
  detail::HttpServerCore& s = *impl_;
  const HttpServerOptions& o = s.options;
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    s.ssl.emplace(asio::ssl::context::tls_server);
    s.ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    beast::error_code ec;
    s.ssl->use_certificate_chain_file(o.tls_cert, ec);
    if (!ec) s.ssl->use_private_key_file(o.tls_key, asio::ssl::context::pem, ec);
    if (ec)
      return Unavailable("cannot load the TLS certificate " + o.tls_cert + " and key " + o.tls_key +
                         " (PEM files, the key matching the certificate): " + ec.message());
  }
  const std::string where = o.host + ":" + std::to_string(o.port);
  beast::error_code ec;
  tcp::resolver resolver(s.ioc);
  auto endpoints = resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) return Unavailable("cannot listen for HTTP on " + where + ": " + ec.message());
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  s.acceptor.emplace(s.ioc);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Unavailable("cannot listen for HTTP on " + where + ": " + ec.message());
  s.port = s.acceptor->local_endpoint().port();
  s.pool = std::make_unique<HandlerPool>(std::max<size_t>(1, o.handler_threads), o.max_queued);
  Accept(s);
  for (size_t i = 0; i < std::max<size_t>(1, o.io_threads); ++i) s.io_threads.emplace_back([&s] { s.ioc.run(); });
  return s.port;
}

void HttpServer::Stop() {
  detail::HttpServerCore& s = *impl_;
  if (s.stopped.exchange(true)) return;
  if (s.acceptor) {
    beast::error_code ec;
    s.acceptor->close(ec);
  }
  if (s.pool) s.pool->Stop();  // running handlers finish; queued ones are dropped
  s.ioc.stop();
  for (auto& t : s.io_threads)
    if (t.joinable()) t.join();
}

int HttpServer::port() const { return impl_->port; }

HttpServer::Stats HttpServer::stats() const {
  return {impl_->requests.load(), impl_->refused_busy.load(), impl_->closed_slow.load(), impl_->open.load()};
}

}  // namespace chorus::net
