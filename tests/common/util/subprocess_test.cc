#include "common/util/subprocess.h"

#include <chrono>

#include <gtest/gtest.h>

namespace chorus {
namespace {

TEST(RunCommand, CapturesOutputErrorAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(RunCommand, AddsEnvironment) {
  CommandOptions o;
  o.env = {{"CHORUS_SUBPROCESS_TEST", "x y"}};
  auto r = RunCommand({"sh", "-c", "printf %s \"$CHORUS_SUBPROCESS_TEST\""}, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "x y");
}

TEST(RunCommand, KillsAProgramThatRunsTooLong) {
  CommandOptions o;
  o.timeout = std::chrono::milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  auto r = RunCommand({"sleep", "30"}, o);
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(RunCommand, MissingProgramIsAnError) {
  auto r = RunCommand({"chorus-no-such-program"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("chorus-no-such-program"), std::string::npos);
}

TEST(ShellQuote, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(ShellQuote("/a/b-c.yaml"), "/a/b-c.yaml");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellJoin({"echo", "a b", "c"}), "echo 'a b' c");
}

}  // namespace
}  // namespace chorus
