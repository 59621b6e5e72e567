// libFuzzer harness: a request's frames as the broker and then a worker read
// them: the header (an InferRequest without its input) and, when there is
// one, the input frame (common/proto/infer_frames.h), and a worker's
// WorkerMessage. Beyond not crashing: an input put back from a frame must be
// that frame (a WAV's bytes exactly), and taking it out again must give the
// same request.
//
// Input layout: two bytes, little-endian: the header's length (low 15 bits)
// and whether an input frame follows (the top bit); the header; the frame.
#include <cstddef>
#include <cstdint>
#include <string>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "common/proto/infer_frames.h"
#include "common/proto/serve.pb.h"

namespace {

// Serialized with maps in key order, so equal messages give equal bytes.
std::string Canonical(const google::protobuf::MessageLite& m) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  chorus::proto::WorkerMessage worker;
  (void)worker.ParseFromArray(data, static_cast<int>(size));
  if (size < 2) return 0;
  const size_t word = data[0] | (static_cast<size_t>(data[1]) << 8);
  const bool has_frame = word & 0x8000;
  const size_t header_size = std::min(word & 0x7fff, size - 2);
  const uint8_t* frame = data + 2 + header_size;
  const size_t frame_size = size - 2 - header_size;
  chorus::proto::InferRequest request;
  if (!request.ParseFromArray(data + 2, static_cast<int>(header_size))) return 0;
  const auto kind = request.input_frame();
  if (!chorus::proto::PutInput(&request, frame, frame_size, has_frame).ok()) return 0;
  if (kind == chorus::proto::INPUT_WAV &&
      request.wav() != std::string(reinterpret_cast<const char*>(frame), frame_size))
    __builtin_trap();
  chorus::proto::InferRequest again = request;
  const std::string bytes = chorus::proto::TakeInput(&again);
  if (!chorus::proto::PutInput(&again, bytes.data(), bytes.size(), again.input_frame() != 0).ok() ||
      Canonical(again) != Canonical(request))
    __builtin_trap();
  return 0;
}
