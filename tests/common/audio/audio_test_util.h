// Helpers shared by the audio tests: a per-test temporary directory, raw file
// writes, and deterministic test signals.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace chorus::audio::testing {

// A fresh directory under the system temp dir, removed when the test ends.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "chorus_audio_" + std::to_string(::getpid());
    if (info != nullptr) name += std::string("_") + info->test_suite_name() + "_" + info->name();
    std::replace(name.begin(), name.end(), '/', '_');  // parameterised names contain '/'
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<float> Sine(double freq, double amplitude, int sample_rate, int64_t n, double phase = 0.0) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    out[static_cast<size_t>(i)] =
        static_cast<float>(amplitude * std::sin(2.0 * M_PI * freq * static_cast<double>(i) / sample_rate + phase));
  }
  return out;
}

// Linear chirp f0 -> f1 plus uniform noise; deterministic for a given seed.
inline std::vector<float> ChirpPlusNoise(int sample_rate, double seconds, double f0, double f1, uint64_t seed) {
  const auto n = static_cast<int64_t>(std::llround(seconds * sample_rate));
  std::mt19937_64 rng(seed);
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / sample_rate;
    const double phase = 2.0 * M_PI * (f0 * t + 0.5 * (f1 - f0) / seconds * t * t);
    const double noise = (static_cast<double>(rng() >> 11) * 0x1.0p-53 - 0.5) * 0.1;
    out[static_cast<size_t>(i)] = static_cast<float>(0.5 * std::sin(phase) + noise);
  }
  return out;
}

// A canonical 44-byte PCM WAV header followed by `data` (which may be shorter
// than data_bytes claims, or empty).
inline std::string WavBytes(uint32_t sample_rate, uint16_t channels, uint16_t bits, uint32_t data_bytes,
                            const std::string& data) {
  auto le16 = [](uint16_t v) { return std::string{static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}; };
  auto le32 = [](uint32_t v) {
    return std::string{static_cast<char>(v & 0xff), static_cast<char>((v >> 8) & 0xff),
                       static_cast<char>((v >> 16) & 0xff), static_cast<char>((v >> 24) & 0xff)};
  };
  const uint16_t block_align = static_cast<uint16_t>(channels * bits / 8);
  std::string b = "RIFF" + le32(36 + data_bytes) + "WAVE";
  b += "fmt " + le32(16) + le16(1) + le16(channels) + le32(sample_rate) + le32(sample_rate * block_align) +
       le16(block_align) + le16(bits);
  b += "data" + le32(data_bytes) + data;
  return b;
}

// n PCM16 samples of a quiet ramp, little-endian.
inline std::string Pcm16Data(size_t n) {
  std::string d;
  for (size_t i = 0; i < n; ++i) {
    const auto v = static_cast<uint16_t>(static_cast<int16_t>((i % 200) * 50 - 5000));
    d += static_cast<char>(v & 0xff);
    d += static_cast<char>(v >> 8);
  }
  return d;
}

}  // namespace chorus::audio::testing
