#include "common/util/status.h"

#include <gtest/gtest.h>

namespace chorus {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) return InvalidArgument("value must be positive, got " + std::to_string(v));
  return v;
}

Result<int> Doubled(int v) {
  ASSIGN_OR_RETURN(int x, ParsePositive(v));
  return 2 * x;
}

Status CheckBoth(int a, int b) {
  RETURN_IF_ERROR(ParsePositive(a).status());
  RETURN_IF_ERROR(ParsePositive(b).status());
  return Status::Ok();
}

TEST(Status, OkAndErrorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  Status s = NotFound("a.wav: no such file");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: a.wav: no such file");
  EXPECT_EQ(s.WithContext("loading dataset").message(), "loading dataset: a.wav: no such file");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(Status, MacrosPropagateTheFirstError) {
  EXPECT_EQ(Doubled(4).value(), 8);
  Result<int> bad = Doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("got -1"), std::string::npos);
  EXPECT_TRUE(CheckBoth(1, 2).ok());
  EXPECT_NE(CheckBoth(1, -2).message().find("got -2"), std::string::npos);
}

TEST(Status, ResultFromOkStatusIsAnError) {
  Result<int> r = Status::Ok();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace chorus
