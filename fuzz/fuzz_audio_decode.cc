// libFuzzer harness: audio bytes as the request path decodes them (an HTTP
// WAV body, a ZeroMQ wav field): libsndfile's formats, mixdown, the length
// bound read from the header, and soxr resampling to 16 kHz.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/audio/wav_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  chorus::audio::ReadOptions options;
  options.target_sample_rate = 16000;
  options.max_seconds = 30;  // as a deployment bounds its requests
  auto wave = chorus::audio::DecodeAudio(bytes, "fuzz", options);
  if (wave.ok() && wave->samples.empty()) __builtin_trap();  // the contract: never an empty waveform
  return 0;
}
