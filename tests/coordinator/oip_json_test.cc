#include "coordinator/serving/oip_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>


namespace chorus::coordinator {
namespace {

using ::testing::HasSubstr;

Status Parse(const std::string& body, proto::InferRequest* r = nullptr) {
  proto::InferRequest scratch;
  std::vector<std::string> outputs;
  return ParseInferJson(body, r ? r : &scratch, &outputs);
}

TEST(OipJson, ReadsAudioFeaturesOutputsAndParameters) {
  proto::InferRequest r;
  std::vector<std::string> outputs;
  ASSERT_TRUE(ParseInferJson(R"({"id":"7","inputs":[{"name":"audio","datatype":"FP32","shape":[3],"data":[0.5,[-0.5],1]}],
      "outputs":[{"name":"labels"}],"parameters":{"sample_rate":8000,"top_k":2,"timeout_ms":500,"threshold":0.3}})",
                             &r, &outputs)
                  .ok());
  EXPECT_EQ(r.id(), "7");
  EXPECT_EQ(r.pcm().sample_rate(), 8000);
  EXPECT_EQ(r.pcm().samples_size(), 3);
  EXPECT_EQ(r.top_k(), 2);
  EXPECT_EQ(r.timeout_ms(), 500);
  EXPECT_DOUBLE_EQ(r.parameters().at("threshold"), 0.3);
  EXPECT_EQ(outputs, std::vector<std::string>{"labels"});
}

TEST(OipJson, ValuesThatWouldNarrowOrOverflowAreRefusedByName) {
  const std::string audio = R"({"inputs":[{"name":"audio","datatype":"FP32","shape":[1],"data":[)";
  EXPECT_THAT(Parse(audio + "1e300]}]}").message(), HasSubstr("beyond FP32's range"));
  EXPECT_THAT(Parse(audio + R"(0]}],"parameters":{"sample_rate":9999999999}})").message(),
              HasSubstr("parameters.sample_rate"));
  EXPECT_THAT(Parse(audio + R"(0]}],"parameters":{"top_k":4294967297}})").message(), HasSubstr("parameters.top_k"));
  EXPECT_THAT(Parse(audio + R"(0]}],"parameters":{"timeout_ms":9200000000000000}})").message(),
              HasSubstr("parameters.timeout_ms"));
  EXPECT_THAT(Parse(R"({"inputs":[{"name":"audio","datatype":"FP32","shape":[4294967296,4294967296],"data":[0]}]})")
                  .message(),
              HasSubstr("more than"));
  EXPECT_THAT(Parse(std::string(100000, '[') + std::string(100000, ']')).message(), HasSubstr("nests deeper than 64"));
  EXPECT_THAT(Parse(std::string(100000, '[')).message(), HasSubstr("body is not JSON"));
}

TEST(OipJson, DataMustMatchItsShapeAndHoldOnlyNumbers) {
  const std::string audio = R"({"inputs":[{"name":"audio","datatype":"FP32",)";
  EXPECT_THAT(Parse(audio + R"("shape":[2],"data":[1,[2,3]]}]})").message(), HasSubstr("more values than its shape"));
  EXPECT_THAT(Parse(audio + R"("shape":[3],"data":[1,2]}]})").message(), HasSubstr("has 2 values but its shape says 3"));
  EXPECT_THAT(Parse(audio + R"("shape":[2],"data":[1,"x"]}]})").message(), HasSubstr("must hold numbers"));
  EXPECT_THAT(Parse(audio + R"("shape":[1],"data":[1]}],"parameters":{"threshold":"high"}})").message(),
              HasSubstr("parameters.threshold must be a number"));
  EXPECT_THAT(Parse("{\"inputs\":\"\xff\xfe\"}").message(), HasSubstr("not JSON"));
  EXPECT_THAT(Parse(R"({"inputs":[]})").message(), HasSubstr("exactly one tensor"));
  EXPECT_THAT(Parse("[1]").message(), HasSubstr("must be a JSON object"));
}

}  // namespace
}  // namespace chorus::coordinator
