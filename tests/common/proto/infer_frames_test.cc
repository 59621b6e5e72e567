#include "common/proto/infer_frames.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chorus::proto {
namespace {

using ::testing::HasSubstr;

InferRequest Back(InferRequest header, const std::string& frame) {
  EXPECT_TRUE(PutInput(&header, frame.data(), frame.size(), true).ok());
  return header;
}

TEST(InferFrames, EachInputKindTravelsAsAFrameAndComesBackAsItWas) {
  InferRequest wav;
  wav.set_model("kws");
  wav.set_wav(std::string("RIFF\0\0", 6));
  InferRequest header = wav;
  const std::string frame = TakeInput(&header);
  EXPECT_EQ(frame, wav.wav());
  EXPECT_EQ(header.input_case(), InferRequest::INPUT_NOT_SET);
  EXPECT_EQ(header.input_frame(), INPUT_WAV);
  EXPECT_EQ(header.model(), "kws");
  EXPECT_EQ(Back(header, frame).SerializeAsString(), wav.SerializeAsString());

  InferRequest pcm;
  pcm.mutable_pcm()->set_sample_rate(8000);
  pcm.mutable_pcm()->add_samples(0.25f);
  header = pcm;
  EXPECT_EQ(Back(header, TakeInput(&header)).SerializeAsString(), pcm.SerializeAsString());

  InferRequest features;
  features.mutable_features()->add_shape(1);
  features.mutable_features()->add_data(2.5f);
  header = features;
  EXPECT_EQ(Back(header, TakeInput(&header)).SerializeAsString(), features.SerializeAsString());

  InferRequest none;
  none.set_model("x");
  header = none;
  EXPECT_EQ(TakeInput(&header), "");
  EXPECT_EQ(header.input_frame(), INPUT_IN_MESSAGE);
  EXPECT_TRUE(PutInput(&header, nullptr, 0, false).ok());
}

TEST(InferFrames, AFrameAndAHeaderThatDisagreeAreRefusedWithWhatWasWrong) {
  InferRequest header;
  EXPECT_THAT(PutInput(&header, "x", 1, true).message(), HasSubstr("must say how to read it"));
  header.set_input_frame(INPUT_WAV);
  EXPECT_THAT(PutInput(&header, nullptr, 0, false).message(), HasSubstr("INPUT_WAV) but none came"));
  header.set_wav("inline");
  EXPECT_THAT(PutInput(&header, "x", 1, true).message(), HasSubstr("both in the message and in a frame"));
  InferRequest pcm;
  pcm.set_input_frame(INPUT_PCM);
  EXPECT_THAT(PutInput(&pcm, "\xff\xff\xff", 3, true).message(), HasSubstr("not a chorus.proto.Pcm (3 bytes)"));
  InferRequest features;
  features.set_input_frame(INPUT_FEATURES);
  EXPECT_THAT(PutInput(&features, "\x0a\x05", 2, true).message(), HasSubstr("not a chorus.proto.Tensor"));
  InferRequest unknown;
  unknown.set_input_frame(static_cast<InputFrame>(9));
  EXPECT_THAT(PutInput(&unknown, "x", 1, true).message(), HasSubstr("unknown input_frame 9"));
}

}  // namespace
}  // namespace chorus::proto
