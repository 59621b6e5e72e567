// The protobuf wire format, as far as the broker needs it to forward a
// client's InferRequest without parsing and re-serializing its audio: a
// length-delimited field is key, length, bytes, and when a field appears
// twice the last value wins. Pure functions, thread-safe; every malformed
// input is an InvalidArgument, never a read past its end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/proto/serve.pb.h"
#include "common/util/status.h"

namespace chorus::coordinator {

void AppendVarint(std::string* out, uint64_t v);
void AppendBytesField(std::string* out, int field, const std::string& bytes);

// Reads a varint at p (advanced past it); false when it runs past `end` or
// over 10 bytes.
bool ReadVarint(const uint8_t*& p, const uint8_t* end, uint64_t* v);

// Parses the `size` bytes at `data` as an InferRequest without its input
// (wav, pcm, features: the bulk of the bytes): the broker routes on the
// small fields and forwards the rest untouched.
Status ParseRequestHeader(const void* data, size_t size, proto::InferRequest* header);

}  // namespace chorus::coordinator
