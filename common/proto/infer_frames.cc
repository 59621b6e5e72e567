#include "common/proto/infer_frames.h"

#include <cstdint>

namespace chorus::proto {

std::string TakeInput(InferRequest* request) {
  std::string bytes;
  switch (request->input_case()) {
    case InferRequest::kWav:
      bytes = std::move(*request->mutable_wav());
      request->set_input_frame(INPUT_WAV);
      break;
    case InferRequest::kPcm:
      bytes = request->pcm().SerializeAsString();
      request->set_input_frame(INPUT_PCM);
      break;
    case InferRequest::kFeatures:
      bytes = request->features().SerializeAsString();
      request->set_input_frame(INPUT_FEATURES);
      break;
    case InferRequest::INPUT_NOT_SET:
      request->set_input_frame(INPUT_IN_MESSAGE);
      return bytes;
  }
  request->clear_input();
  return bytes;
}

Status CheckInputFrame(const InferRequest& header, bool has_frame) {
  const InputFrame kind = header.input_frame();
  if (kind == INPUT_IN_MESSAGE && has_frame)
    return InvalidArgument("an input frame came with a request that does not name it: a request with an input frame "
                           "must say how to read it (input_frame)");
  if (kind != INPUT_IN_MESSAGE && !has_frame)
    return InvalidArgument("the request names an input frame (" + InputFrame_Name(kind) + ") but none came after it");
  return Status::Ok();
}

Status PutInput(InferRequest* request, const void* frame, size_t size, bool has_frame) {
  RETURN_IF_ERROR(CheckInputFrame(*request, has_frame));
  const InputFrame kind = request->input_frame();
  if (kind == INPUT_IN_MESSAGE) return Status::Ok();
  if (request->input_case() != InferRequest::INPUT_NOT_SET)
    return InvalidArgument("the request has its input both in the message and in a frame");
  if (size > static_cast<size_t>(INT32_MAX)) return InvalidArgument("the input frame is over 2 GiB");
  const auto* data = static_cast<const char*>(frame);
  switch (kind) {
    case INPUT_WAV:
      request->set_wav(data, size);
      break;
    case INPUT_PCM:
      if (!request->mutable_pcm()->ParseFromArray(data, static_cast<int>(size)))
        return InvalidArgument("the input frame is not a chorus.proto.Pcm (" + std::to_string(size) + " bytes)");
      break;
    case INPUT_FEATURES:
      if (!request->mutable_features()->ParseFromArray(data, static_cast<int>(size)))
        return InvalidArgument("the input frame is not a chorus.proto.Tensor (" + std::to_string(size) + " bytes)");
      break;
    default:
      return InvalidArgument("unknown input_frame " + std::to_string(static_cast<int>(kind)));
  }
  request->set_input_frame(INPUT_IN_MESSAGE);
  return Status::Ok();
}

}  // namespace chorus::proto
