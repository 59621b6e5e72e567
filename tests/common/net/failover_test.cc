// Endpoint lists (an active/standby pair of coordinators): clients connected
// to both follow whichever peer is there, against real sockets on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/net/dealer_channel.h"
#include "common/net/endpoints.h"
#include "common/net/rpc_client.h"
#include "common/proto/job.pb.h"

namespace chorus::net {
namespace {

using namespace std::chrono_literals;

TEST(Endpoints, ListsAreSplitAndJoinedInOneOrder) {
  EXPECT_EQ(SplitEndpoints("tcp://a:1,,tcp://b:2,"), (std::vector<std::string>{"tcp://a:1", "tcp://b:2"}));
  EXPECT_EQ(SplitEndpoints("tcp://a:1"), (std::vector<std::string>{"tcp://a:1"}));
  EXPECT_TRUE(SplitEndpoints("").empty());
  // Both coordinators of a pair advertise the same text, whichever is "own".
  EXPECT_EQ(JoinEndpoints("tcp://b:2", "tcp://a:1"), "tcp://a:1,tcp://b:2");
  EXPECT_EQ(JoinEndpoints("tcp://a:1", "tcp://b:2"), "tcp://a:1,tcp://b:2");
  EXPECT_EQ(JoinEndpoints("tcp://a:1", ""), "tcp://a:1");
  EXPECT_EQ(JoinEndpoints("tcp://a:1", "tcp://a:1"), "tcp://a:1");
}

// A loopback endpoint nobody listens on. Its port lies below Linux's ephemeral range (32768-60999): no
// connection takes it as its local port, so it can be bound again later, and the client's reconnects to it
// cannot connect to themselves (a TCP self-connect, which the client would see as a peer that came and
// left). The probe is a plain socket, closed at once (ZeroMQ would close a listener later, in its I/O
// thread, and a client could meet it meanwhile).
std::string FreeEndpoint() {
  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> port(20000, 32000);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port(random)));
    const bool free = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    if (free) return "tcp://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  }
  ADD_FAILURE() << "no free loopback port in 20000-32000";
  return "tcp://127.0.0.1:1";
}

// Binds an endpoint freed earlier, trying again for up to 2 s: ZeroMQ closes a listener in its I/O thread,
// after close() has returned.
Result<std::unique_ptr<zmq::socket_t>> BindLater(const std::string& endpoint) {
  const auto give_up = std::chrono::steady_clock::now() + 2s;
  std::string bound;
  auto socket = BindRouter(endpoint, &bound);
  while (!socket.ok() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(20ms);
    socket = BindRouter(endpoint, &bound);
  }
  return socket;
}

// A REQ client's request as a ROUTER sees it: route, empty delimiter, body.
struct Request {
  zmq::message_t route;
  std::string body;
};
std::optional<Request> Receive(zmq::socket_t& router, std::chrono::milliseconds wait) {
  zmq::pollitem_t item{static_cast<void*>(router), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, wait);
  if (!(item.revents & ZMQ_POLLIN)) return std::nullopt;
  Request r;
  zmq::message_t delimiter, body;
  (void)router.recv(r.route);
  (void)router.recv(delimiter);
  (void)router.recv(body);
  r.body = body.to_string();
  return r;
}
void Answer(zmq::socket_t& router, Request& r, const std::string& code) {
  proto::Reply reply;
  reply.set_code(code);
  router.send(r.route, zmq::send_flags::sndmore);
  router.send(zmq::message_t(), zmq::send_flags::sndmore);
  router.send(zmq::buffer(reply.SerializeAsString()));
}

// An active/standby pair: the active takes the first request and dies without answering; `takeover`
// later the standby binds its endpoint and answers every request, as a server does, until Stop().
class ActiveThenStandby {
 public:
  explicit ActiveThenStandby(std::chrono::milliseconds takeover) : standby_(FreeEndpoint()) {
    active_socket_ = BindRouter("tcp://127.0.0.1:0", &active_).value();
    thread_ = std::thread([this, takeover] {
      if (!Receive(*active_socket_, 5s)) return;
      active_socket_->close();
      std::this_thread::sleep_for(takeover);
      auto standby = BindLater(standby_);
      if (!standby.ok()) return;
      while (!done_) {
        auto again = Receive(**standby, 5ms);
        if (!again) continue;
        seen_by_standby_ = again->body;
        Answer(**standby, *again, "FROM-THE-STANDBY");
      }
    });
  }
  ~ActiveThenStandby() { Stop(); }

  std::string endpoints() const { return active_ + "," + standby_; }
  // Ends the standby; afterwards seen_by_standby() is the last request it answered.
  void Stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::string& seen_by_standby() const { return seen_by_standby_; }

 private:
  std::string active_;
  const std::string standby_;
  std::unique_ptr<zmq::socket_t> active_socket_;
  std::atomic<bool> done_{false};
  std::string seen_by_standby_;
  std::thread thread_;
};

TEST(RpcClientFailover, AsksWhicheverPeerOfTheListIsThere) {
  const std::string gone = FreeEndpoint();
  std::string there;
  auto router = BindRouter("tcp://127.0.0.1:0", &there).value();
  std::atomic<bool> done{false};
  std::thread server([&] {  // answers every request, as a server does
    while (!done) {
      if (auto r = Receive(*router, 20ms)) Answer(*router, *r, "FROM-THE-ONE-THERE");
    }
  });
  RpcClient client({gone + "," + there, 5000ms});
  proto::Request request;
  request.set_token("t");
  proto::Reply reply;
  Status s = client.Call(request, &reply);
  done = true;
  server.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(reply.code(), "FROM-THE-ONE-THERE");
}

TEST(RpcClientFailover, SendsTheRequestAgainWhenThePeerHoldingItGoes) {
  ActiveThenStandby servers(200ms);
  RpcClient client({servers.endpoints(), 5000ms});
  proto::Request request;
  request.set_token("the-request");
  proto::Reply reply;
  const auto start = std::chrono::steady_clock::now();
  Status s = client.Call(request, &reply);
  const auto took = std::chrono::steady_clock::now() - start;
  servers.Stop();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(reply.code(), "FROM-THE-STANDBY");
  EXPECT_EQ(servers.seen_by_standby(), request.SerializeAsString());
  EXPECT_LT(took, 3s);  // the disconnect, not the 5 s deadline, made it send again
}

// A client of a list watches its socket with a monitor. Closing them must leave ZeroMQ's I/O thread, shared
// by every socket of the process, free: a monitor event sent after the monitor's reader was closed stalls it
// for good. The race is short, so the failover is run several times.
TEST(RpcClientFailover, AfterFailoversEveryOtherSocketOfTheProcessStillWorks) {
  for (int round = 0; round < 8; ++round) {
    Status s;
    {
      ActiveThenStandby servers(0ms);
      RpcClient client({servers.endpoints(), 5000ms});
      proto::Request request;
      proto::Reply reply;
      s = client.Call(request, &reply);
      servers.Stop();
    }
    ASSERT_TRUE(s.ok()) << "round " << round << ": " << s.ToString();
  }
  // A fresh pair of sockets in the same process talks at once.
  std::string endpoint;
  auto router = BindRouter("tcp://127.0.0.1:0", &endpoint).value();
  DealerChannel channel({endpoint, "w", {}, {1000ms, 0ms}});
  proto::Reply hello;
  hello.set_code("one");
  ASSERT_TRUE(channel.Send(hello).ok()) << "the process's ZeroMQ I/O thread is stalled";
  bool reached = false;
  for (int i = 0; i < 100 && !reached; ++i) {
    auto m = ReceiveRouted(*router);
    reached = m.ok() && m->has_value();
    if (!reached) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(reached);
}

TEST(RpcClientFailover, WithNoPeerThereTheDeadlineIsKept) {
  RpcClient client({FreeEndpoint() + "," + FreeEndpoint(), 300ms});
  proto::Request request;
  proto::Reply reply;
  const auto start = std::chrono::steady_clock::now();
  Status s = client.Call(request, &reply);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(DealerChannelFailover, MessagesGoOnlyToThePeerThatIsThere) {
  const std::string standby = FreeEndpoint();
  std::string active;
  auto first = BindRouter("tcp://127.0.0.1:0", &active).value();
  DealerChannel channel({active + "," + standby, "w", {}, {100ms, 0ms}});
  proto::Reply hello;
  hello.set_code("one");
  // Every message reaches the active: none is queued for the absent standby.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(channel.Send(hello).ok());
  int got = 0;
  for (int i = 0; i < 200 && got < 4; ++i) {
    auto m = ReceiveRouted(*first);
    if (m.ok() && m->has_value()) ++got;
    else std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(got, 4);
  // The active goes, the standby binds: the same channel reaches it.
  first->close();
  auto second = BindLater(standby).value();
  bool reached = false;
  for (int i = 0; i < 300 && !reached; ++i) {
    (void)channel.Send(hello);
    std::this_thread::sleep_for(10ms);
    auto m = ReceiveRouted(*second);
    reached = m.ok() && m->has_value();
  }
  EXPECT_TRUE(reached);
}

}  // namespace
}  // namespace chorus::net
