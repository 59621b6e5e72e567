// libFuzzer harness: a job file as `chorus submit` and the coordinator read it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/config/job_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto spec = chorus::config::ParseTrainJobSpec(text, "fuzz.yaml", "/nonexistent-base");
  if (!spec.ok() && spec.status().message().empty()) __builtin_trap();  // every refusal says why
  return 0;
}
