// libFuzzer harness: configs/coordinator.yaml as chorus-coordinator and the
// CLI load it (from a file: the loader resolves paths against it).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "coordinator/coordinator_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/chorus-fuzz-coordinator-" + std::to_string(::getpid()) + ".yaml";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto config = chorus::coordinator::LoadCoordinatorConfig(path);
  if (!config.ok() && config.status().message().empty()) __builtin_trap();
  std::remove(path.c_str());
  return 0;
}
