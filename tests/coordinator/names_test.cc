#include "coordinator/names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace chorus::coordinator {
namespace {

using ::testing::HasSubstr;

TEST(Names, SafeNamesPassAndOthersAreRefusedNamingTheRule) {
  for (const std::string& ok : std::vector<std::string>{"kws", "vad-2", "spk_v1.3", "A", std::string(64, 'z')})
    EXPECT_TRUE(ValidateName("deployment", ok).ok()) << ok;
  for (const std::string& bad :
       std::vector<std::string>{"", "..", ".hidden", "a=b", "a/b", "x y", "caf\xc3\xa9", std::string(65, 'z')}) {
    Status s = ValidateName("deployment", bad);
    ASSERT_FALSE(s.ok()) << "'" << bad << "'";
    EXPECT_THAT(s.message(), HasSubstr("a deployment name has 1 to 64 characters"));
  }
}

}  // namespace
}  // namespace chorus::coordinator
