// Endpoint lists (an active/standby pair of coordinators): clients connected
// to both follow whichever peer is there, against real sockets on loopback.
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

// A loopback endpoint nobody listens on (bound once, then closed).
std::string FreeEndpoint() {
  std::string endpoint;
  auto probe = BindRouter("tcp://127.0.0.1:0", &endpoint).value();
  probe->close();
  return endpoint;
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

TEST(RpcClientFailover, AsksWhicheverPeerOfTheListIsThere) {
  const std::string gone = FreeEndpoint();
  std::string there;
  auto router = BindRouter("tcp://127.0.0.1:0", &there).value();
  std::thread server([&] {
    auto r = Receive(*router, 5s);
    if (r) Answer(*router, *r, "FROM-THE-ONE-THERE");
  });
  RpcClient client({gone + "," + there, 5000ms});
  proto::Request request;
  request.set_token("t");
  proto::Reply reply;
  Status s = client.Call(request, &reply);
  server.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(reply.code(), "FROM-THE-ONE-THERE");
}

TEST(RpcClientFailover, SendsTheRequestAgainWhenThePeerHoldingItGoes) {
  std::string active;
  auto first = BindRouter("tcp://127.0.0.1:0", &active).value();
  const std::string standby = FreeEndpoint();
  std::string seen_by_standby;
  std::thread servers([&] {
    auto r = Receive(*first, 5s);  // the active takes the request and dies without answering
    if (!r) return;
    first->close();
    std::this_thread::sleep_for(200ms);  // the standby takes over a moment later
    std::string bound;
    auto second = BindRouter(standby, &bound);
    if (!second.ok()) return;
    auto again = Receive(**second, 5s);
    if (!again) return;
    seen_by_standby = again->body;
    Answer(**second, *again, "FROM-THE-STANDBY");
    std::this_thread::sleep_for(100ms);
  });
  RpcClient client({active + "," + standby, 5000ms});
  proto::Request request;
  request.set_token("the-request");
  proto::Reply reply;
  const auto start = std::chrono::steady_clock::now();
  Status s = client.Call(request, &reply);
  const auto took = std::chrono::steady_clock::now() - start;
  servers.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(reply.code(), "FROM-THE-STANDBY");
  EXPECT_EQ(seen_by_standby, request.SerializeAsString());
  EXPECT_LT(took, 3s);  // the disconnect, not the 5 s deadline, made it send again
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
  std::string bound;
  auto second = BindRouter(standby, &bound).value();
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
