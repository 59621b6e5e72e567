// HttpServer: an asynchronous HTTP/1.1 server (Boost.Beast over Asio) for
// hostile traffic, used by every HTTP face of Chorus (the v2 gateway, the
// dashboard).
//
// Connections are read on I/O threads and never hold one while they wait:
//   - a request's headers must all arrive within header_timeout (a client
//     that sends a header line now and then is closed, and blocks no one);
//   - headers over max_header_bytes are answered 431, a body over
//     max_body_bytes 413 as soon as its length (or a chunk's) says so,
//     chunked bodies included; a malformed request 400; each then closes;
//   - before_body sees the headers of a request that carries a body before
//     one byte of it is read: an answer it gives is sent and the connection
//     closed (authorise first, then buffer).
// A complete request goes to its route (method + a regular expression the
// whole decoded path must match). Inline routes (cheap and non-blocking:
// health, metrics) run on the I/O thread; the others on a pool of
// handler_threads, with at most max_queued waiting: beyond that the request
// is answered 429 at once. Each request carries the time its headers
// arrived, so deadlines count from arrival, not from when a thread was free.
// Keep-alive, TCP_NODELAY, at most max_connections open (more are closed on
// accept), TLS when `tls` names a certificate and key. Stop() (or the
// destructor) closes the listener and connections and joins every thread.
// Errors the server writes itself go through options.error, so a JSON API
// answers JSON.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/util/status.h"

namespace chorus::net {

namespace detail {
struct HttpServerCore;
}

struct HttpRequest {
  std::string method;                               // "GET", "POST", ...
  std::string target;                               // as sent: path and query, percent-encoded
  std::string path;                                 // percent-decoded, without the query
  std::multimap<std::string, std::string> query;    // decoded ('+' is a space)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::vector<std::string> matches;                 // the route's groups; [0] the whole path ("" unmatched)
  std::chrono::steady_clock::time_point arrived;    // when its headers were complete
  std::string remote;                               // the client's address

  // Case-insensitive; "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const;
  // The last value of a query key; "" when absent.
  std::string param(std::string_view name) const;
  bool has_param(std::string_view name) const { return query.count(std::string(name)) > 0; }
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // close the connection after this answer

  void Set(std::string content, std::string type) {
    body = std::move(content);
    content_type = std::move(type);
  }
  void Redirect(const std::string& location) {
    status = 302;
    headers.emplace_back("Location", location);
  }
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                      // 0: any free port
  std::string tls_cert, tls_key;     // PEM files; both empty: plain HTTP
  size_t io_threads = 1;
  size_t handler_threads = 16;       // blocking handlers run at once
  size_t max_queued = 256;           // complete requests waiting for a handler thread; then 429
  size_t max_connections = 4096;
  size_t max_header_bytes = 16 << 10;
  size_t max_body_bytes = 16 << 20;
  std::chrono::milliseconds header_timeout{5000};  // the whole header, from its first byte or the last answer
  std::chrono::milliseconds body_timeout{30000};   // the whole body
  std::chrono::milliseconds write_timeout{30000};  // the whole answer
  // Headers of a request with a body, before the body: an answer refuses it.
  std::function<bool(const HttpRequest&, HttpResponse&)> before_body;
  // Writes the answer for an error the server meets itself (400, 404, 413,
  // 429, 431, 500); default: the message as text.
  std::function<void(HttpResponse&, int status, const std::string& message)> error;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes, tried in the order added; add them before Start().
  void Route(const std::string& method, const std::string& path_regex, HttpHandler handler, bool inline_ = false);
  void Get(const std::string& path_regex, HttpHandler handler, bool inline_ = false) {
    Route("GET", path_regex, std::move(handler), inline_);
  }
  void Post(const std::string& path_regex, HttpHandler handler) { Route("POST", path_regex, std::move(handler)); }
  void Put(const std::string& path_regex, HttpHandler handler) { Route("PUT", path_regex, std::move(handler)); }
  void Delete(const std::string& path_regex, HttpHandler handler) { Route("DELETE", path_regex, std::move(handler)); }
  // GET PREFIX/REL serves the file DIR/REL (DIR/REL/index.html for a folder);
  // a path with a ".." segment is 404.
  void Mount(const std::string& prefix, const std::string& dir);

  // Binds and starts serving; the bound port, or Unavailable naming what
  // failed (the address, or the TLS files).
  Result<int> Start();
  void Stop();
  int port() const;

  // Counters, for tests and metrics.
  struct Stats {
    uint64_t requests = 0, refused_busy = 0, closed_slow = 0, open_connections = 0;
  };
  Stats stats() const;

 private:
  std::unique_ptr<detail::HttpServerCore> impl_;
};

// "%41b+c" -> "Ab+c" (plus_is_space: "Ab c"); a bad escape stays as it is.
std::string PercentDecode(std::string_view text, bool plus_is_space);

}  // namespace chorus::net
