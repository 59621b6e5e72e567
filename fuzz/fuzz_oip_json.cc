// libFuzzer harness: the body of POST /v2/models/{m}/infer (Open Inference
// Protocol v2 JSON) as the gateway parses it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "coordinator/serving/oip_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  chorus::proto::InferRequest request;
  std::vector<std::string> outputs;
  chorus::Status s = chorus::coordinator::ParseInferJson(body, &request, &outputs);
  if (s.ok() && !request.has_pcm() && !request.has_features()) __builtin_trap();  // accepted means an input
  return 0;
}
