// HttpServer against real sockets on loopback: routes and keep-alive, and
// each hostile case it exists for (huge headers, oversized and chunked
// bodies, refusal before the body, slow clients, a full handler pool, path
// tricks on a mount).
#include "common/net/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

namespace chorus::net {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  return fd;
}

// Reads until the server closes (or 5 s pass).
std::string ReadAll(int fd) {
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = recv(fd, buf, sizeof(buf), 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  return answer;
}

// Sends `bytes` without ending our side, and reads the answer until the server closes.
std::string Exchange(int port, const std::string& bytes) {
  const int fd = Connect(port);
  if (fd < 0) return "connect failed";
  (void)!send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string answer = ReadAll(fd);
  close(fd);
  return answer;
}

HttpServerOptions Options() {
  HttpServerOptions o;
  o.max_body_bytes = 1 << 20;
  o.max_header_bytes = 8 << 10;
  o.error = [](HttpResponse& res, int status, const std::string& message) {
    res.Set("{\"error\":\"" + message + "\"}", "application/json");
  };
  return o;
}

TEST(HttpServer, RoutesTheDecodedPathWithItsGroupsAndQueryOverKeepAlive) {
  HttpServer server(Options());
  server.Get(R"(/items/([^/]+))", [](const HttpRequest& req, HttpResponse& res) {
    res.Set(req.matches[1] + "|" + req.param("q") + "|" + req.header("x-thing"), "text/plain");
  });
  server.Post("/echo", [](const HttpRequest& req, HttpResponse& res) { res.Set(req.body, "application/octet-stream"); });
  const int port = server.Start().value();
  httplib::Client http("127.0.0.1", port);
  http.set_keep_alive(true);
  auto a = http.Get("/items/a%20b?q=x+y&q=last", {{"X-Thing", "t"}});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(a->body, "a b|last|t");
  const std::string binary("\0\x01\xff body", 8);
  auto b = http.Post("/echo", binary, "application/octet-stream");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body, binary);
  auto missing = http.Get("/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->body, HasSubstr("\"error\""));
  EXPECT_EQ(server.stats().requests, 3u);
}

TEST(HttpServer, HeadersOverTheLimitAre431) {
  HttpServer server(Options());
  server.Get("/", [](const HttpRequest&, HttpResponse& res) { res.Set("ok", "text/plain"); });
  const int port = server.Start().value();
  const std::string answer =
      Exchange(port, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 431"));
  EXPECT_THAT(answer, HasSubstr("\"error\""));
}

TEST(HttpServer, BodiesOverTheLimitAre413ChunkedOnesAsSoonAsAChunkSaysSo) {
  HttpServer server(Options());
  server.Post("/", [](const HttpRequest& req, HttpResponse& res) { res.Set(std::to_string(req.body.size()), "text/plain"); });
  const int port = server.Start().value();
  // A declared length over the limit is refused before the body is sent.
  EXPECT_THAT(Exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n"), StartsWith("HTTP/1.1 413"));
  // A chunk that is bigger than the limit: refused from its size line.
  EXPECT_THAT(Exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\nxx"),
              StartsWith("HTTP/1.1 413"));
  // Small chunks that add up past the limit: refused when the total does.
  std::string small = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 40; ++i) small += "8000\r\n" + std::string(0x8000, 'z') + "\r\n";
  EXPECT_THAT(Exchange(port, small), StartsWith("HTTP/1.1 413"));
  // Chunked within the limit is read whole.
  const std::string ok = Exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_THAT(ok, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(ok, HasSubstr("\r\n\r\n5"));
  EXPECT_THAT(Exchange(port, "NOT HTTP AT ALL\r\n\r\n"), StartsWith("HTTP/1.1 400"));
}

TEST(HttpServer, BeforeBodyRefusesFromTheHeadersWithoutReadingTheBody) {
  HttpServerOptions o = Options();
  std::atomic<int> handled{0};
  o.before_body = [](const HttpRequest& req, HttpResponse& res) {
    if (req.header("authorization") == "yes") return true;
    res.status = 401;
    res.Set("{\"error\":\"who are you\"}", "application/json");
    return false;
  };
  HttpServer server(o);
  server.Post("/", [&](const HttpRequest&, HttpResponse& res) {
    ++handled;
    res.Set("in", "text/plain");
  });
  const int port = server.Start().value();
  // 900 KB announced, 10 bytes sent: the answer comes from the headers alone.
  const std::string answer = Exchange(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n0123456789");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 401"));
  EXPECT_THAT(answer, HasSubstr("who are you"));
  EXPECT_EQ(handled.load(), 0);
  httplib::Client http("127.0.0.1", port);
  auto in = http.Post("/", {{"Authorization", "yes"}}, "body", "text/plain");
  ASSERT_TRUE(in);
  EXPECT_EQ(in->body, "in");
}

TEST(HttpServer, SlowClientsBlockNoOneAndAreClosedAtTheHeaderTimeout) {
  HttpServerOptions o = Options();
  o.header_timeout = 400ms;
  o.handler_threads = 2;
  HttpServer server(o);
  server.Get("/live", [](const HttpRequest&, HttpResponse& res) { res.Set("live", "text/plain"); }, /*inline_=*/true);
  const int port = server.Start().value();
  std::vector<int> slow;
  for (int i = 0; i < 64; ++i) {
    const int fd = Connect(port);
    ASSERT_GE(fd, 0);
    const std::string part = "GET /live HTTP/1.1\r\nHost: x\r\n";
    ASSERT_GT(send(fd, part.data(), part.size(), MSG_NOSIGNAL), 0);
    slow.push_back(fd);
  }
  httplib::Client http("127.0.0.1", port);
  http.set_read_timeout(1, 0);
  const auto start = std::chrono::steady_clock::now();
  auto live = http.Get("/live");
  ASSERT_TRUE(live) << "no answer beside 64 slow connections";
  EXPECT_EQ(live->body, "live");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms);
  // A header line every 100 ms does not extend the deadline: the whole header is due in 400 ms.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(100ms);
    for (int fd : slow) (void)!send(fd, "X-A: b\r\n", 8, MSG_NOSIGNAL);
  }
  for (int fd : slow) {
    EXPECT_EQ(ReadAll(fd), "");  // closed without an answer
    close(fd);
  }
  // Beast closes the socket on the timeout before the handler that counts it runs: the count may trail the
  // closes a little.
  const auto counted_by = std::chrono::steady_clock::now() + 2s;
  while (server.stats().closed_slow < 64u && std::chrono::steady_clock::now() < counted_by)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(server.stats().closed_slow, 64u);
}

TEST(HttpServer, AFullPoolAnswers429AtOnceAndInlineRoutesStillAnswer) {
  HttpServerOptions o = Options();
  o.handler_threads = 1;
  o.max_queued = 1;
  HttpServer server(o);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> started{0};
  std::atomic<int64_t> waited_ms{-1};
  server.Get("/slow", [&](const HttpRequest& req, HttpResponse& res) {
    if (started++ == 0) released.wait();
    else waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - req.arrived).count();
    res.Set("done", "text/plain");
  });
  server.Get("/live", [](const HttpRequest&, HttpResponse& res) { res.Set("live", "text/plain"); }, true);
  const int port = server.Start().value();
  auto get = [port](const std::string& path) {
    httplib::Client http("127.0.0.1", port);
    http.set_read_timeout(5, 0);
    auto r = http.Get(path);
    return r ? r->status : -1;
  };
  auto first = std::async(std::launch::async, get, "/slow");   // takes the one thread
  while (started.load() == 0) std::this_thread::sleep_for(5ms);
  auto second = std::async(std::launch::async, get, "/slow");  // waits in the queue
  while (server.stats().requests < 2) std::this_thread::sleep_for(5ms);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(get("/slow"), 429);  // no room: refused at once
  EXPECT_EQ(get("/live"), 200);  // inline: answered beside the busy pool
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  EXPECT_EQ(server.stats().refused_busy, 1u);
  std::this_thread::sleep_for(300ms);
  release.set_value();
  EXPECT_EQ(first.get(), 200);
  EXPECT_EQ(second.get(), 200);
  // The queued request knows how long it waited since it arrived.
  EXPECT_GE(waited_ms.load(), 300);
}

TEST(HttpServer, AMountServesItsFilesAndNothingOutsideThem) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("chorus_http_mount_" + std::to_string(getpid()));
  fs::create_directories(root / "site");
  std::ofstream(root / "site" / "index.html") << "<p>hi";
  std::ofstream(root / "site" / "app.js") << "let a;";
  std::ofstream(root / "secret.txt") << "secret";
  HttpServer server(Options());
  server.Mount("/site/", (root / "site").string());
  const int port = server.Start().value();
  httplib::Client http("127.0.0.1", port);
  auto index = http.Get("/site/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->body, "<p>hi");
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  auto js = http.Get("/site/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  for (const std::string path : {"/site/../secret.txt", "/site/%2e%2e/secret.txt", "/site/nope.js"}) {
    const std::string answer = Exchange(port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 404")) << path;
    EXPECT_THAT(answer, ::testing::Not(HasSubstr("secret"))) << path;
  }
  fs::remove_all(root);
}

TEST(HttpServer, StartNamesWhatFailed) {
  HttpServerOptions o = Options();
  o.tls_cert = "/nonexistent/cert.pem";
  o.tls_key = "/nonexistent/key.pem";
  auto tls = HttpServer(o).Start();
  ASSERT_FALSE(tls.ok());
  EXPECT_THAT(tls.status().message(), HasSubstr("/nonexistent/cert.pem"));
  HttpServer first(Options());
  const int port = first.Start().value();
  HttpServerOptions same = Options();
  same.port = port;
  auto taken = HttpServer(same).Start();
  ASSERT_FALSE(taken.ok());
  EXPECT_THAT(taken.status().message(), HasSubstr("127.0.0.1:" + std::to_string(port)));
}

TEST(PercentDecode, DecodesEscapesAndKeepsBadOnes) {
  EXPECT_EQ(PercentDecode("a%20b+c", false), "a b+c");
  EXPECT_EQ(PercentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(PercentDecode("%ff%zz%4", false), "\xff%zz%4");
}

}  // namespace
}  // namespace chorus::net
