#include "common/audio/wav_io.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "tests/common/audio/audio_test_util.h"

namespace chorus::audio {
namespace {

using ::testing::HasSubstr;
using testing::Pcm16Data;
using testing::ReadBytes;
using testing::Sine;
using testing::TempDir;
using testing::WavBytes;
using testing::WriteBytes;

float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0.0f;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

// Every failure must name the file and say what is wrong with it.
void ExpectError(const Result<Waveform>& result, const std::string& name, const std::string& reason) {
  ASSERT_FALSE(result.ok()) << "expected an error mentioning '" << reason << "' for " << name << ", got "
                            << result->samples.size() << " samples";
  EXPECT_THAT(result.status().message(), HasSubstr(name));
  EXPECT_THAT(result.status().message(), HasSubstr(reason));
  std::cout << "  rejected as expected: " << result.status().ToString() << "\n";
}

TEST(WavIo, RoundTripsPcm16Wav) {
  TempDir dir;
  Waveform wave{Sine(440.0, 0.5, 16000, 16000), 16000};
  const std::string path = dir.File("pcm16.wav");
  ASSERT_TRUE(WriteAudio(path, wave).ok());
  auto back = ReadAudio(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->sample_rate, 16000);
  ASSERT_EQ(back->samples.size(), wave.samples.size());
  EXPECT_LE(MaxAbsDiff(back->samples, wave.samples), 1.5f / 32768.0f);
  EXPECT_NEAR(back->seconds(), 1.0, 1e-9);
  // 16-bit header and data: 44 + 2 bytes a sample.
  EXPECT_EQ(std::filesystem::file_size(path), 44u + 2u * 16000u);
}

TEST(WavIo, RoundTripsFloatWavExactly) {
  TempDir dir;
  Waveform wave{Sine(1234.5, 0.9, 22050, 5000), 22050};
  const std::string path = dir.File("float.wav");
  ASSERT_TRUE(WriteAudio(path, wave, {SampleFormat::kFloat32, false}).ok());
  auto back = ReadAudio(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->sample_rate, 22050);
  EXPECT_EQ(back->samples, wave.samples);
}

TEST(WavIo, RoundTripsFlac) {
  TempDir dir;
  Waveform wave{Sine(300.0, 0.7, 8000, 8000), 8000};
  const std::string path = dir.File("clip.flac");
  ASSERT_TRUE(WriteAudio(path, wave, {SampleFormat::kPcm16, true}).ok());
  EXPECT_EQ(ReadBytes(path).substr(0, 4), "fLaC");
  auto back = ReadAudio(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->sample_rate, 8000);
  EXPECT_LE(MaxAbsDiff(back->samples, wave.samples), 1.5f / 32768.0f);
}

TEST(WavIo, RefusesFloatFlac) {
  TempDir dir;
  Waveform wave{Sine(300.0, 0.7, 8000, 800), 8000};
  Status st = WriteAudio(dir.File("x.flac"), wave, {SampleFormat::kFloat32, true});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir.File("x.flac")));
}

TEST(WavIo, ClipsOnWrite) {
  TempDir dir;
  Waveform wave{{1.5f, -3.0f, 0.25f}, 16000};
  ASSERT_TRUE(WriteAudio(dir.File("clip.wav"), wave, {SampleFormat::kFloat32, false}).ok());
  auto back = ReadAudio(dir.File("clip.wav"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->samples, (std::vector<float>{1.0f, -1.0f, 0.25f}));
}

TEST(WavIo, WriteRejectsBadWaveforms) {
  TempDir dir;
  EXPECT_EQ(WriteAudio(dir.File("a.wav"), Waveform{{0.1f}, 10}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteAudio(dir.File("b.wav"), Waveform{{}, 16000}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteAudio(dir.File("c.wav"), Waveform{{0.1f, NAN}, 16000}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(std::filesystem::is_empty(std::filesystem::path(dir.File(""))));
}

TEST(WavIo, WritesAtomicallyOverExistingFile) {
  TempDir dir;
  const std::string path = dir.File("over.wav");
  ASSERT_TRUE(WriteAudio(path, Waveform{Sine(100, 0.1, 16000, 1600), 16000}).ok());
  ASSERT_TRUE(WriteAudio(path, Waveform{Sine(100, 0.1, 16000, 3200), 16000}).ok());
  auto back = ReadAudio(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->samples.size(), 3200u);
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.File(""))) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1) << "temporary files left behind";
}

TEST(WavIo, MixesStereoToMono) {
  TempDir dir;
  const std::string path = dir.File("stereo.wav");
  const int n = 1000;
  std::vector<float> interleaved(2 * n);
  std::vector<float> expected(n);
  for (int i = 0; i < n; ++i) {
    const float left = 0.5f * std::sin(0.01f * i);
    const float right = -0.25f + 0.001f * static_cast<float>(i % 100);
    interleaved[2 * i] = left;
    interleaved[2 * i + 1] = right;
    expected[i] = (left + right) * 0.5f;
  }
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.samplerate = 44100;
  info.channels = 2;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  ASSERT_EQ(sf_writef_float(f, interleaved.data(), n), n);
  ASSERT_EQ(sf_close(f), 0);

  auto back = ReadAudio(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->sample_rate, 44100);
  ASSERT_EQ(back->samples.size(), static_cast<size_t>(n));
  EXPECT_LE(MaxAbsDiff(back->samples, expected), 1e-7f);
}

TEST(WavIo, ResamplesOnRead) {
  TempDir dir;
  const std::string path = dir.File("8k.wav");
  ASSERT_TRUE(WriteAudio(path, Waveform{Sine(440.0, 0.5, 8000, 8000), 8000}).ok());
  auto back = ReadAudio(path, {16000});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->sample_rate, 16000);
  EXPECT_EQ(back->samples.size(), 16000u);
  // Same rate requested: untouched.
  auto same = ReadAudio(path, {8000});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->samples.size(), 8000u);
}

TEST(WavIo, DecodesFromMemory) {
  TempDir dir;
  const std::string path = dir.File("mem.wav");
  Waveform wave{Sine(440.0, 0.5, 16000, 4000), 16000};
  ASSERT_TRUE(WriteAudio(path, wave, {SampleFormat::kFloat32, false}).ok());
  auto decoded = DecodeAudio(ReadBytes(path), "request body");
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->samples, wave.samples);
  EXPECT_EQ(decoded->sample_rate, 16000);
}

TEST(WavIo, RejectsMissingFile) {
  TempDir dir;
  const std::string path = dir.File("does_not_exist.wav");
  auto r = ReadAudio(path);
  ExpectError(r, path, "no such");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST(WavIo, RejectsEmptyFile) {
  TempDir dir;
  const std::string path = dir.File("empty.wav");
  WriteBytes(path, "");
  ExpectError(ReadAudio(path), path, "empty file");
  ExpectError(DecodeAudio("", "upload-7"), "upload-7", "empty file");
}

TEST(WavIo, RejectsTruncatedFile) {
  TempDir dir;
  // A real file cut in half, as an interrupted copy leaves it.
  const std::string full = dir.File("full.wav");
  ASSERT_TRUE(WriteAudio(full, Waveform{Sine(440.0, 0.5, 16000, 16000), 16000}).ok());
  const std::string bytes = ReadBytes(full);
  const std::string path = dir.File("truncated.wav");
  WriteBytes(path, bytes.substr(0, bytes.size() / 2));
  ExpectError(ReadAudio(path), path, "truncated");
  ExpectError(DecodeAudio(bytes.substr(0, bytes.size() / 2), "half-upload"), "half-upload", "truncated");
  // Cut inside the header.
  const std::string header_cut = dir.File("header_cut.wav");
  WriteBytes(header_cut, bytes.substr(0, 30));
  auto r = ReadAudio(header_cut);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(header_cut));
  // Cut just after the data chunk header.
  const std::string no_data = dir.File("no_data.wav");
  WriteBytes(no_data, bytes.substr(0, 44));
  ExpectError(ReadAudio(no_data), no_data, "truncated");
}

TEST(WavIo, RejectsTruncatedFlac) {
  TempDir dir;
  const std::string full = dir.File("full.flac");
  ASSERT_TRUE(WriteAudio(full, Waveform{testing::ChirpPlusNoise(16000, 2.0, 100, 6000, 3), 16000},
                         {SampleFormat::kPcm16, true})
                  .ok());
  const std::string bytes = ReadBytes(full);
  const std::string path = dir.File("truncated.flac");
  WriteBytes(path, bytes.substr(0, bytes.size() / 2));
  ExpectError(ReadAudio(path), path, "truncated");
}

TEST(WavIo, RejectsCorruptFile) {
  TempDir dir;
  // A WAV whose format tag names no codec, and one with zero channels.
  std::string bytes = WavBytes(16000, 1, 16, 200, Pcm16Data(100));
  bytes[20] = static_cast<char>(0xef);
  bytes[21] = static_cast<char>(0xbe);
  const std::string path = dir.File("bad_codec.wav");
  WriteBytes(path, bytes);
  ExpectError(ReadAudio(path), path, "corrupt");

  const std::string zero_channels = dir.File("zero_channels.wav");
  WriteBytes(zero_channels, WavBytes(16000, 0, 16, 200, Pcm16Data(100)));
  ExpectError(ReadAudio(zero_channels), zero_channels, "corrupt");

  // RIFF/WAVE magic followed by garbage.
  const std::string garbage = dir.File("garbage.wav");
  WriteBytes(garbage, std::string("RIFF\x10\x00\x00\x00WAVEjunkjunkjunkjunkjunk", 32));
  auto r = ReadAudio(garbage);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(garbage));
}

TEST(WavIo, RejectsNonAudioFile) {
  TempDir dir;
  const std::string path = dir.File("notes.wav");
  WriteBytes(path, "These are my notes, not a recording.\nLine two.\n");
  ExpectError(ReadAudio(path), path, "not a readable audio file");
  ExpectError(DecodeAudio("{\"json\": true}", "body.json"), "body.json", "not a readable audio file");
}

TEST(WavIo, RejectsZeroLengthAudio) {
  TempDir dir;
  const std::string path = dir.File("zero.wav");
  WriteBytes(path, WavBytes(16000, 1, 16, 0, ""));
  ExpectError(ReadAudio(path), path, "zero-length audio");
}

TEST(WavIo, RefusesAudioLongerThanAskedFromItsHeader) {
  // Two hours of 8-bit audio at 1 kHz is only 7.2 MB: the bound must hold
  // before anything is decoded or resampled.
  const std::string two_hours = WavBytes(1000, 1, 8, 7'200'000, std::string(7'200'000, '\x80'));
  ReadOptions o;
  o.target_sample_rate = 16000;
  o.max_seconds = 60;
  ExpectError(DecodeAudio(two_hours, "request body", o), "request body", "7200 s of audio; at most 60 s");
  o.max_seconds = 7200;  // exactly at the bound is fine
  o.target_sample_rate = 0;
  auto r = DecodeAudio(two_hours, "request body", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->samples.size(), 7'200'000u);
}

TEST(WavIo, RejectsAbsurdSampleRate) {
  TempDir dir;
  for (uint32_t rate : {10u, 999u, 5000000u}) {
    const std::string path = dir.File("rate_" + std::to_string(rate) + ".wav");
    WriteBytes(path, WavBytes(rate, 1, 16, 200, Pcm16Data(100)));
    ExpectError(ReadAudio(path), path, "sample rate");
  }
  // The edges of the allowed range are fine.
  for (uint32_t rate : {static_cast<uint32_t>(kMinSampleRate), static_cast<uint32_t>(kMaxSampleRate)}) {
    const std::string path = dir.File("ok_" + std::to_string(rate) + ".wav");
    WriteBytes(path, WavBytes(rate, 1, 16, 200, Pcm16Data(100)));
    auto r = ReadAudio(path);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->sample_rate, static_cast<int>(rate));
    EXPECT_EQ(r->samples.size(), 100u);
  }
}

TEST(WavIo, RejectsAbsurdTargetSampleRate) {
  TempDir dir;
  const std::string path = dir.File("ok.wav");
  ASSERT_TRUE(WriteAudio(path, Waveform{Sine(440.0, 0.5, 16000, 1600), 16000}).ok());
  for (int rate : {-16000, 1, 999, 10000000}) {
    auto r = ReadAudio(path, {rate});
    ExpectError(r, path, "sample rate");
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(WavIo, RejectsDirectory) {
  TempDir dir;
  auto r = ReadAudio(dir.File(""));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("directory"));
}

}  // namespace
}  // namespace chorus::audio
