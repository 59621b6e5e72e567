#include "coordinator/serving/broker_wire.h"

namespace chorus::coordinator {

void AppendVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void AppendBytesField(std::string* out, int field, const std::string& bytes) {
  AppendVarint(out, (static_cast<uint64_t>(field) << 3) | 2);
  AppendVarint(out, bytes.size());
  out->append(bytes);
}

bool ReadVarint(const uint8_t*& p, const uint8_t* end, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t b = *p++;
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

Status ParseRequestHeader(const void* data, size_t size, proto::InferRequest* header) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  const uint8_t* end = p + size;
  std::string small;
  const Status bad = InvalidArgument("malformed chorus.proto.InferRequest (" + std::to_string(size) + " bytes)");
  while (p < end) {
    const uint8_t* field_start = p;
    uint64_t key = 0, length = 0;
    if (!ReadVarint(p, end, &key)) return bad;
    const int field = static_cast<int>(key >> 3);
    switch (key & 7) {
      case 0:
        if (!ReadVarint(p, end, &length)) return bad;
        break;
      case 1:
        if (end - p < 8) return bad;
        p += 8;
        break;
      case 2:
        if (!ReadVarint(p, end, &length) || length > static_cast<uint64_t>(end - p)) return bad;
        p += length;
        break;
      case 5:
        if (end - p < 4) return bad;
        p += 4;
        break;
      default:
        return bad;
    }
    const bool input = field == proto::InferRequest::kWavFieldNumber || field == proto::InferRequest::kPcmFieldNumber ||
                       field == proto::InferRequest::kFeaturesFieldNumber;
    if (!input) small.append(reinterpret_cast<const char*>(field_start), static_cast<size_t>(p - field_start));
  }
  if (!header->ParseFromString(small)) return bad;
  return Status::Ok();
}

}  // namespace chorus::coordinator
