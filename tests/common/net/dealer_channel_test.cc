// DealerChannel against a real ROUTER on loopback: the framing with a
// payload frame both ways, beats, and the reconnect after silence.
#include "common/net/dealer_channel.h"

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/proto/job.pb.h"

namespace chorus::net {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// The next message on `router`, waiting up to two seconds.
std::optional<RoutedMessage> Next(zmq::socket_t& router) {
  for (int i = 0; i < 200; ++i) {
    auto m = ReceiveRouted(router);
    if (m.ok() && m->has_value()) return std::move(**m);
    std::this_thread::sleep_for(10ms);
  }
  return std::nullopt;
}
std::optional<DealtMessage> Next(DealerChannel& channel) {
  for (int i = 0; i < 200; ++i) {
    auto m = channel.Receive();
    if (m.ok() && m->has_value()) return std::move(**m);
    std::this_thread::sleep_for(10ms);
  }
  return std::nullopt;
}

TEST(DealerChannel, CarriesAHeaderAndAPayloadFrameBothWays) {
  std::string endpoint;
  auto router = BindRouter("tcp://127.0.0.1:0", &endpoint).value();
  DealerChannel channel({endpoint, "dealer-1", {}, {100ms, 0ms}});
  proto::Reply header;
  header.set_code("OK");
  zmq::message_t payload(std::string(100000, 'a'));
  ASSERT_TRUE(channel.Send(header, &payload).ok());
  auto got = Next(*router);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->route.at(0).to_string(), "dealer-1");
  proto::Reply parsed;
  ASSERT_TRUE(ParseProto(got->header, &parsed).ok());
  EXPECT_EQ(parsed.code(), "OK");
  ASSERT_TRUE(got->payload.has_value());
  EXPECT_EQ(got->payload->to_string(), std::string(100000, 'a'));
  // And back, with and without a payload.
  zmq::message_t back(std::string("bytes"));
  ASSERT_TRUE(ReplyRouted(*router, *got, parsed, &back).ok());
  ASSERT_TRUE(ReplyRouted(*router, *got, parsed).ok());
  auto first = Next(channel), second = Next(channel);
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->payload.has_value());
  EXPECT_EQ(first->payload->to_string(), "bytes");
  EXPECT_FALSE(second->payload.has_value());
}

TEST(DealerChannel, FramesInAnotherShapeAreAnErrorAndConsumed) {
  std::string endpoint;
  auto router = BindRouter("tcp://127.0.0.1:0", &endpoint).value();
  DealerChannel channel({endpoint, "dealer-2", {}, {100ms, 0ms}});
  proto::Reply hello;
  ASSERT_TRUE(channel.Send(hello).ok());
  ASSERT_TRUE(Next(*router).has_value());
  router->send(zmq::buffer(std::string("dealer-2")), zmq::send_flags::sndmore);
  router->send(zmq::buffer(std::string("not a delimiter")), zmq::send_flags::none);
  Result<std::optional<DealtMessage>> bad = channel.Receive();
  for (int i = 0; i < 200 && bad.ok() && !bad->has_value(); ++i) {
    std::this_thread::sleep_for(10ms);
    bad = channel.Receive();
  }
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("framing"));
  auto after = channel.Receive();
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());
}

TEST(DealerChannel, BeatsWhenDueAndReconnectsAfterThePeerIsSilent) {
  std::string endpoint;
  auto router = BindRouter("tcp://127.0.0.1:0", &endpoint).value();
  DealerChannel channel({endpoint, "dealer-3", {}, {50ms, 200ms}});
  auto t0 = DealerChannel::Clock::now();
  EXPECT_EQ(channel.Poll(t0), DealerChannel::Event::kBeat);
  EXPECT_EQ(channel.Poll(t0 + 10ms), DealerChannel::Event::kNone);
  EXPECT_EQ(channel.Poll(t0 + 60ms), DealerChannel::Event::kBeat);
  // A message from the peer is a sign of life.
  proto::Reply m;
  ASSERT_TRUE(channel.Send(m).ok());
  auto got = Next(*router);
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(ReplyRouted(*router, *got, m).ok());
  ASSERT_TRUE(Next(channel).has_value());
  const auto heard = DealerChannel::Clock::now();
  EXPECT_NE(channel.Poll(heard + 150ms), DealerChannel::Event::kReconnected);
  EXPECT_EQ(channel.Poll(heard + 250ms), DealerChannel::Event::kReconnected);
  // The fresh socket reaches the peer under the same routing id.
  ASSERT_TRUE(channel.Send(m).ok());
  auto again = Next(*router);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->route.at(0).to_string(), "dealer-3");
}

}  // namespace
}  // namespace chorus::net
