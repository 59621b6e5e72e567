#include "common/net/multipart.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chorus::net {
namespace {

using ::testing::HasSubstr;

TEST(Multipart, SplitsPartsKeepingBinaryBytes) {
  const std::string audio("RIFF\0\r\n--notit\xff", 15);
  const std::string body = "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n"
                           "Content-Type: audio/wav\r\n\r\n" + audio +
                           "\r\n--XyZ\r\ncontent-disposition: form-data; name=audio\r\n\r\nsecond\r\n--XyZ--\r\n";
  auto parts = ParseMultipart("multipart/form-data; boundary=\"XyZ\"", body);
  ASSERT_TRUE(parts.ok()) << parts.status().message();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "audio");
  EXPECT_EQ((*parts)[0].filename, "a.wav");
  EXPECT_EQ((*parts)[0].content_type, "audio/wav");
  EXPECT_EQ((*parts)[0].content, audio);
  EXPECT_EQ((*parts)[1].name, "audio");
  EXPECT_EQ((*parts)[1].content, "second");
}

TEST(Multipart, RefusesWhatDoesNotFollowTheGrammar) {
  EXPECT_THAT(ParseMultipart("text/plain", "x").status().message(), HasSubstr("not multipart/form-data"));
  EXPECT_THAT(ParseMultipart("multipart/form-data", "x").status().message(), HasSubstr("boundary"));
  EXPECT_THAT(ParseMultipart("multipart/form-data; boundary=B", "no delimiter").status().message(),
              HasSubstr("no boundary line"));
  EXPECT_THAT(ParseMultipart("multipart/form-data; boundary=B", "--B\r\nContent-Disposition: form-data\r\n\r\nabc")
                  .status().message(),
              HasSubstr("no closing boundary"));
  EXPECT_THAT(ParseMultipart("multipart/form-data; boundary=B", "--Bjunk").status().message(),
              HasSubstr("no line break"));
  EXPECT_TRUE(IsMultipartFormData("Multipart/Form-Data; boundary=x"));
}

}  // namespace
}  // namespace chorus::net
