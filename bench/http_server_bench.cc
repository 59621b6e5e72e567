// http_server_bench: the HTTP server under the gateway, chosen by measuring.
// Chorus's net::HttpServer (Boost.Beast, asynchronous) beside libmicrohttpd
// (epoll, a pool of 2 threads, one per core here) and cpp-httplib's
// thread-per-connection server (8 threads, its default, and 128, what the
// gateway used before), each answering a small JSON at once:
//  1. keep-alive POST of a 32 KB body at concurrency 1: p50 and p99;
//  2. throughput at concurrency 32 (keep-alive clients on threads);
//  3. the same concurrency-1 requests while 64 clients hold connections open
//     with half-sent headers: how many are answered within 1 s, and their p50;
//  4. slowloris: 256 clients each send a header line every second and never
//     end their headers; after 8 s, how many connections the server closed.
// Prints each server's figures and the ratios to Beast's in one run.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <httplib.h>
#include <microhttpd.h>

#include "common/net/http_server.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}
constexpr const char* kAnswer = R"({"model_name":"x","outputs":[]})";

// A server listening on loopback until destroyed.
struct Running {
  int port = 0;
  std::function<void()> stop;
  ~Running() { stop(); }
};

std::unique_ptr<Running> StartBeast(size_t io_threads) {
  chorus::net::HttpServerOptions o;
  o.handler_threads = 16;
  o.io_threads = io_threads;
  auto server = std::make_shared<chorus::net::HttpServer>(o);
  server->Post("/echo", [](const chorus::net::HttpRequest&, chorus::net::HttpResponse& res) {
    res.Set(kAnswer, "application/json");
  });
  auto r = std::make_unique<Running>();
  r->port = server->Start().value();
  r->stop = [server] { server->Stop(); };
  return r;
}

std::unique_ptr<Running> StartHttplib(size_t threads) {
  auto server = std::make_shared<httplib::Server>();
  server->set_tcp_nodelay(true);
  server->set_read_timeout(5, 0);
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server->Post("/echo", [](const httplib::Request&, httplib::Response& res) { res.set_content(kAnswer, "application/json"); });
  auto r = std::make_unique<Running>();
  r->port = server->bind_to_any_port("127.0.0.1");
  auto thread = std::make_shared<std::thread>([server] { server->listen_after_bind(); });
  while (!server->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  r->stop = [server, thread] {
    server->stop();
    thread->join();
  };
  return r;
}

// libmicrohttpd calls the handler once with the headers, then with each piece
// of the body, then once more when the body is complete. The body is kept,
// as a gateway must (the others hand their handlers the whole body too).
MHD_Result MhdAnswer(void*, MHD_Connection* connection, const char*, const char*, const char*, const char* data,
                     size_t* upload_size, void** state) {
  if (*state == nullptr) {  // the headers
    *state = new std::string();
    return MHD_YES;
  }
  auto* body = static_cast<std::string*>(*state);
  if (*upload_size != 0) {  // a piece of the body
    body->append(data, *upload_size);
    *upload_size = 0;
    return MHD_YES;
  }
  delete body;
  *state = nullptr;
  MHD_Response* response =
      MHD_create_response_from_buffer(std::strlen(kAnswer), const_cast<char*>(kAnswer), MHD_RESPMEM_PERSISTENT);
  MHD_add_response_header(response, "Content-Type", "application/json");
  const MHD_Result r = MHD_queue_response(connection, 200, response);
  MHD_destroy_response(response);
  return r;
}

std::unique_ptr<Running> StartMicrohttpd() {
  MHD_Daemon* daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, nullptr, nullptr, &MhdAnswer, nullptr,
      MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
  if (!daemon) return nullptr;
  auto r = std::make_unique<Running>();
  r->port = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
  r->stop = [daemon] { MHD_stop_daemon(daemon); };
  return r;
}

struct Latency {
  double p50 = 0, p99 = 0;
  size_t answered = 0, failed = 0;
};

Latency Sequential(int port, const std::string& body, double seconds) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_connection_timeout(1, 0);
  client.set_read_timeout(1, 0);
  std::vector<double> t;
  Latency out;
  for (auto start = Clock::now(); Since(start) < seconds;) {
    const auto t0 = Clock::now();
    auto res = client.Post("/echo", body, "application/octet-stream");
    if (res && res->status == 200) {
      t.push_back(Since(t0));
      ++out.answered;
    } else {
      ++out.failed;
    }
  }
  out.p50 = Percentile(t, 0.5);
  out.p99 = Percentile(t, 0.99);
  return out;
}

double Throughput(int port, const std::string& body, int clients, double seconds) {
  std::atomic<size_t> answered{0};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int i = 0; i < clients; ++i)
    threads.emplace_back([&] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      while (Since(start) < seconds)
        if (auto res = client.Post("/echo", body, "application/octet-stream"); res && res->status == 200) ++answered;
    });
  for (auto& t : threads) t.join();
  return static_cast<double>(answered) / Since(start);
}

// 64 connections holding half-sent headers, closed when destroyed.
struct SlowClients {
  std::vector<int> fds;
  SlowClients(int port, int n) {
    for (int i = 0; i < n; ++i) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(fd);
        continue;
      }
      const char part[] = "POST /echo HTTP/1.1\r\nHost: x\r\n";
      (void)!send(fd, part, sizeof(part) - 1, MSG_NOSIGNAL);
      fds.push_back(fd);
    }
  }
  ~SlowClients() {
    for (int fd : fds) close(fd);
  }
};

// Clients that each send a header line every second for `seconds`, never
// ending their headers; returns how many connections the server closed.
size_t Drip(int port, int clients, double seconds) {
  SlowClients slow(port, clients);
  std::vector<bool> closed(slow.fds.size(), false);
  for (auto start = Clock::now(); Since(start) < seconds;) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    for (size_t i = 0; i < slow.fds.size(); ++i) {
      if (closed[i]) continue;
      char c;
      if (recv(slow.fds[i], &c, 1, MSG_DONTWAIT) == 0 || send(slow.fds[i], "X-a: b\r\n", 8, MSG_NOSIGNAL) < 0)
        closed[i] = true;
    }
  }
  return static_cast<size_t>(std::count(closed.begin(), closed.end(), true));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"The HTTP server under the gateway: Chorus's Beast server beside cpp-httplib's, side by side"};
  double seconds = 2;
  size_t body_bytes = 32 << 10, io_threads = 1;
  app.add_option("--seconds", seconds, "seconds per measurement")->check(CLI::PositiveNumber);
  app.add_option("--body-bytes", body_bytes, "the POST body's size");
  app.add_option("--io-threads", io_threads, "the Beast server's I/O threads (the gateway's default: 1)")
      ->check(CLI::Range(1, 16));
  CLI11_PARSE(app, argc, argv);
  const std::string body(body_bytes, 'a');
  struct Row {
    const char* name;
    std::function<std::unique_ptr<Running>()> start;
    Latency alone, beside_slow;
    double rate = 0;
    size_t dripped_closed = 0;
  };
  std::vector<Row> rows;
  auto add = [&rows](const char* name, std::function<std::unique_ptr<Running>()> start) {
    rows.push_back(Row{name, std::move(start), {}, {}, 0, 0});
  };
  add("chorus HttpServer (Beast, async)", [io_threads] { return StartBeast(io_threads); });
  add("libmicrohttpd (epoll, 2 threads)", StartMicrohttpd);
  add("cpp-httplib, 8 threads (default)", [] { return StartHttplib(8); });
  add("cpp-httplib, 128 threads", [] { return StartHttplib(128); });
  std::printf("HTTP servers answering a small JSON to a %zu-byte keep-alive POST on loopback; %.1f s per figure\n\n",
              body.size(), seconds);
  for (Row& row : rows) {
    auto server = row.start();
    if (!server) {
      std::fprintf(stderr, "http_server_bench: %s did not start\n", row.name);
      return 1;
    }
    (void)Sequential(server->port, body, 0.2);  // warm up
    row.alone = Sequential(server->port, body, seconds);
    row.rate = Throughput(server->port, body, 32, seconds);
    {
      SlowClients slow(server->port, 64);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      row.beside_slow = Sequential(server->port, body, seconds);
    }
    row.dripped_closed = Drip(server->port, 256, 8);
  }
  const Row& ours = rows[0];
  std::printf("%-34s | c=1 p50 us | c=1 p99 us | c=32 req/s | beside 64 slow clients: answered (failed), p50 us "
              "| slowloris (256, a line a second): closed after 8 s\n", "server");
  for (const Row& r : rows)
    std::printf("%-34s | %10.0f | %10.0f | %10.0f | %8zu (%zu), %7.0f | %zu of 256\n", r.name, r.alone.p50 * 1e6,
                r.alone.p99 * 1e6, r.rate, r.beside_slow.answered, r.beside_slow.failed, r.beside_slow.p50 * 1e6,
                r.dripped_closed);
  std::printf("\nratios, chorus / each other (latency: lower is better; throughput and answered: higher is better)\n");
  for (size_t i = 1; i < rows.size(); ++i) {
    const Row& r = rows[i];
    char answered[64] = "it answered none";
    if (r.beside_slow.answered)
      std::snprintf(answered, sizeof answered, "%.2fx",
                    static_cast<double>(ours.beside_slow.answered) / static_cast<double>(r.beside_slow.answered));
    std::printf("vs %-31s | p50 %.2fx | p99 %.2fx | req/s %.2fx | answered beside slow clients %s\n", r.name,
                ours.alone.p50 / r.alone.p50, ours.alone.p99 / r.alone.p99, ours.rate / r.rate, answered);
  }
  return 0;
}
