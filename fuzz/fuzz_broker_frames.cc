// libFuzzer harness: frames as the broker receives them from the network: a
// client's InferRequest, read by the broker's own wire-format reader without
// decoding the audio, and a worker's WorkerMessage (protobuf). Where both
// the reader and protobuf parse a frame, they must agree on how to route it.
#include <cstddef>
#include <cstdint>

#include "common/proto/serve.pb.h"
#include "coordinator/serving/broker_wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  chorus::proto::InferRequest header;
  const bool ours = chorus::coordinator::ParseRequestHeader(data, size, &header).ok();
  chorus::proto::InferRequest full;
  const bool protobuf = full.ParseFromArray(data, static_cast<int>(size));
  if (ours && protobuf && (header.model() != full.model() || header.version() != full.version() ||
                   header.timeout_ms() != full.timeout_ms()))
    __builtin_trap();
  chorus::proto::WorkerMessage worker;
  (void)worker.ParseFromArray(data, static_cast<int>(size));
  return 0;
}
