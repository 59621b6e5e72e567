// libFuzzer harness: sbatch template rendering. The input is a template,
// then after the first NUL byte a value for every placeholder the renderer
// knows (a job name, paths and a command can carry anything).
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "coordinator/training/sbatch_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  const std::string value = nul == std::string::npos ? "" : input.substr(nul + 1);
  std::map<std::string, std::string> values;
  for (const char* key : {"job_name", "partition", "ntasks", "cpus_per_task", "time_limit", "log_path", "workdir",
                          "extra_sbatch", "environment", "command", "exit_file", "gpus", "nodes"})
    values[key] = value;
  auto rendered = chorus::coordinator::RenderTemplate(text, values, "fuzz.sbatch.in");
  // Values are inserted, never re-expanded: a value holding "{{x}}" stays as it is.
  if (rendered.ok() && text.find("{{") == std::string::npos && *rendered != text) __builtin_trap();
  return 0;
}
