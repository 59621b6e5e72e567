#include "common/net/heartbeat.h"

#include <gtest/gtest.h>

namespace chorus::net {
namespace {

using namespace std::chrono_literals;
using Time = Heartbeat::Time;

TEST(Heartbeat, BeatsAtOnceThenEveryIntervalAndSaysHowLongUntilTheNext) {
  const Time t0{};
  Heartbeat h({100ms, 0ms}, t0);
  EXPECT_TRUE(h.Due(t0));
  EXPECT_EQ(h.UntilDue(t0), 0ms);
  h.Sent(t0);
  EXPECT_FALSE(h.Due(t0 + 99ms));
  EXPECT_EQ(h.UntilDue(t0 + 40ms), 60ms);
  EXPECT_TRUE(h.Due(t0 + 100ms));
  EXPECT_EQ(h.UntilDue(t0 + 250ms), 0ms);
}

TEST(Heartbeat, APeerIsSilentOnlyPastTheLivenessWindowAndNeverWithoutOne) {
  const Time t0{};
  Heartbeat h({100ms, 300ms}, t0);
  EXPECT_FALSE(h.Silent(t0 + 300ms));
  EXPECT_TRUE(h.Silent(t0 + 301ms));
  h.Heard(t0 + 250ms);
  EXPECT_FALSE(h.Silent(t0 + 500ms));
  EXPECT_EQ(h.SilentFor(t0 + 500ms), 250ms);
  h.Heard(t0 + 100ms);  // an older sign of life does not move time back
  EXPECT_EQ(h.SilentFor(t0 + 500ms), 250ms);
  Heartbeat never({100ms, 0ms}, t0);
  EXPECT_FALSE(never.Silent(t0 + 1000s));
}

}  // namespace
}  // namespace chorus::net
