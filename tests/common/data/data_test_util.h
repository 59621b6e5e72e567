// Helpers for the common/data tests: scratch directories, tiny files and
// running the system Python (/usr/bin/python3, which has torch) for parity checks.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/audio/wav_io.h"

namespace chorus::data::testing {

namespace fs = std::filesystem;

// A fresh directory removed at the end of the test.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    const char* tmp = std::getenv("TMPDIR");
    fs::path base = (tmp && *tmp) ? fs::path(tmp) : fs::temp_directory_path();
    std::string templ = (base / ("chorus_data_" + tag + "_XXXXXX")).string();
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp failed for " << templ;
    }
    path_ = buf.data();
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// Creates parent directories and an empty (or given) file.
inline void Touch(const std::string& path, const std::string& contents = "") {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << contents;
}

// A tiny real WAV (0.05 s of a quiet tone at 8 kHz).
inline void WriteTinyWav(const std::string& path) {
  fs::create_directories(fs::path(path).parent_path());
  audio::Waveform w;
  w.sample_rate = 8000;
  for (int i = 0; i < 400; ++i) w.samples.push_back(0.1f * ((i % 16) < 8 ? 1.0f : -1.0f));
  Status st = audio::WriteAudio(path, w);
  ASSERT_TRUE(st.ok()) << st.ToString();
}

// A file's bytes ("" when unreadable).
inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool HavePython() { return ::access("/usr/bin/python3", X_OK) == 0; }

// Runs /usr/bin/python3 -c SCRIPT (the script must not contain single quotes)
// and returns its stdout; sets *rc to the exit status.
inline std::string RunPython(const std::string& script, int* rc) {
  std::string cmd = "/usr/bin/python3 -c '" + script + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *rc = -1;
    return "";
  }
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = ::pclose(p);
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

inline std::vector<std::string> SplitLines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) lines.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace chorus::data::testing
