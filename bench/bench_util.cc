#include "bench/bench_util.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace chorus::bench {

std::string SourcePath(const std::string& relative) {
  const char* env = std::getenv("CHORUS_SOURCE_DIR");
  return std::string(env ? env : CHORUS_SOURCE_DIR_DEFAULT) + "/" + relative;
}

std::string BinDir() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().parent_path().string() + "/bin";
}

std::string FreshOutputDir(const std::string& name) {
  std::error_code ec;
  const std::string dir = std::filesystem::absolute("bench-out/" + name).string();
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir, ec);
  return dir;
}

Result<std::string> RunAndReadLastLine(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return Unavailable("cannot run: " + command);
  std::string output;
  std::array<char, 4096> buf;
  while (std::fgets(buf.data(), buf.size(), pipe)) output += buf.data();
  const int rc = ::pclose(pipe);
  std::istringstream lines(output);
  std::string line, last;
  while (std::getline(lines, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  if (rc != 0) return Internal("'" + command + "' exited with status " + std::to_string(rc) + ": " + last);
  return last;
}

Result<double> RunAndReadNumber(const std::string& command) {
  ASSIGN_OR_RETURN(std::string last, RunAndReadLastLine(command));
  try {
    return std::stod(last);
  } catch (const std::exception&) {
    return Internal("'" + command + "' did not end with a number: " + last);
  }
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())))];
}

}  // namespace chorus::bench
