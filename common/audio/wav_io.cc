#include "common/audio/wav_io.h"

#include <sndfile.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/audio/resample.h"
#include "common/util/fs.h"

namespace chorus::audio {
namespace {

// ---------------------------------------------------------------------------
// In-memory file for sf_open_virtual.

struct MemoryFile {
  const std::string* bytes = nullptr;
  sf_count_t pos = 0;
};

sf_count_t MemLength(void* user) { return static_cast<sf_count_t>(static_cast<MemoryFile*>(user)->bytes->size()); }

sf_count_t MemSeek(sf_count_t offset, int whence, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  const auto size = static_cast<sf_count_t>(f->bytes->size());
  sf_count_t target = 0;
  switch (whence) {
    case SEEK_SET: target = offset; break;
    case SEEK_CUR: target = f->pos + offset; break;
    case SEEK_END: target = size + offset; break;
    default: return -1;
  }
  if (target < 0) return -1;
  f->pos = std::min(target, size);
  return f->pos;
}

sf_count_t MemRead(void* ptr, sf_count_t count, void* user) {
  auto* f = static_cast<MemoryFile*>(user);
  const auto size = static_cast<sf_count_t>(f->bytes->size());
  if (count <= 0 || f->pos >= size) return 0;
  const sf_count_t n = std::min(count, size - f->pos);
  std::memcpy(ptr, f->bytes->data() + f->pos, static_cast<size_t>(n));
  f->pos += n;
  return n;
}

sf_count_t MemWrite(const void*, sf_count_t, void*) { return 0; }  // read-only

sf_count_t MemTell(void* user) { return static_cast<MemoryFile*>(user)->pos; }

// Closes a SNDFILE on every path out of a function.
struct SndFileCloser {
  SNDFILE* file = nullptr;
  ~SndFileCloser() {
    if (file != nullptr) sf_close(file);
  }
};

uint32_t Le32(const std::string& b, size_t at) {
  return static_cast<uint32_t>(static_cast<unsigned char>(b[at])) |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16 |
         static_cast<uint32_t>(static_cast<unsigned char>(b[at + 3])) << 24;
}

// libsndfile accepts a RIFF/WAVE file whose "data" chunk claims more bytes
// than the file holds and quietly reports the shorter length, so a cut-off
// download would decode as a shorter clip. Walks the chunk list and reports
// such a file as truncated. Other containers are left to libsndfile (FLAC
// declares its length in STREAMINFO, which Decode checks against what it reads).
Status CheckRiffChunks(const std::string& b, const std::string& name) {
  if (b.size() < 12 || b.compare(0, 4, "RIFF") != 0 || b.compare(8, 4, "WAVE") != 0) return Status::Ok();
  size_t pos = 12;
  bool saw_fmt = false;
  while (pos < b.size()) {
    if (b.size() - pos < 8) {
      return Corruption(name + ": truncated WAV file (chunk header cut off at byte " + std::to_string(pos) + ")");
    }
    const std::string id = b.substr(pos, 4);
    const uint64_t size = Le32(b, pos + 4);
    const uint64_t available = b.size() - pos - 8;
    if (id == "fmt ") saw_fmt = true;
    if (id == "data") {
      if (!saw_fmt) return Status::Ok();  // unusual layout: let libsndfile judge it
      // 0 and 0xFFFFFFFF are what streaming writers leave when they cannot seek
      // back to patch the size; libsndfile then reads to the end of the file.
      if (size == 0 || size == 0xFFFFFFFFu) return Status::Ok();
      if (size > available) {
        return Corruption(name + ": truncated WAV file: data chunk declares " + std::to_string(size) +
                          " bytes but only " + std::to_string(available) + " are present");
      }
      return Status::Ok();
    }
    if (size > available) {
      return Corruption(name + ": truncated WAV file: '" + id + "' chunk declares " + std::to_string(size) +
                        " bytes but only " + std::to_string(available) + " are present");
    }
    pos += 8 + size + (size & 1);  // chunks are padded to an even size
  }
  return Corruption(name + ": corrupt WAV file: no data chunk");
}

std::string RateRange() {
  return "[" + std::to_string(kMinSampleRate) + ", " + std::to_string(kMaxSampleRate) + "] Hz";
}

// Decodes bytes that are known to be non-empty.
Result<Waveform> DecodeBytes(const std::string& bytes, const std::string& name, const ReadOptions& options) {
  if (options.target_sample_rate != 0 &&
      (options.target_sample_rate < kMinSampleRate || options.target_sample_rate > kMaxSampleRate)) {
    return InvalidArgument(name + ": absurd target sample rate " + std::to_string(options.target_sample_rate) +
                           " Hz (allowed: 0 to keep the file's rate, or " + RateRange() + ")");
  }
  RETURN_IF_ERROR(CheckRiffChunks(bytes, name));

  MemoryFile mem{&bytes, 0};
  SF_VIRTUAL_IO io{MemLength, MemSeek, MemRead, MemWrite, MemTell};
  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  SndFileCloser closer;
  closer.file = sf_open_virtual(&io, SFM_READ, &info, &mem);
  if (closer.file == nullptr) {
    return Corruption(name + ": not a readable audio file (corrupt, truncated or not audio): " +
                      sf_strerror(nullptr));
  }
  if (info.samplerate < kMinSampleRate || info.samplerate > kMaxSampleRate) {
    return Corruption(name + ": absurd sample rate " + std::to_string(info.samplerate) + " Hz in header (allowed " +
                      RateRange() + ")");
  }
  if (info.channels < 1) {
    return Corruption(name + ": corrupt header: " + std::to_string(info.channels) + " channels");
  }
  if (info.frames <= 0) return InvalidArgument(name + ": zero-length audio (no frames)");
  // A header can claim any length; refuse sizes that cannot be a real file
  // before allocating for them (libsndfile's own figure is capped by the
  // file size for PCM, but not for every codec).
  const auto max_samples = static_cast<sf_count_t>(1) << 34;
  if (info.frames > max_samples / info.channels) {
    return Corruption(name + ": corrupt header: claims " + std::to_string(info.frames) + " frames");
  }
  if (options.max_seconds > 0 && static_cast<double>(info.frames) > options.max_seconds * info.samplerate) {
    return InvalidArgument(name + ": " + std::to_string(info.frames / info.samplerate) + " s of audio; at most " +
                      std::to_string(static_cast<int64_t>(options.max_seconds)) + " s are accepted");
  }

  const sf_count_t frames = info.frames;
  const int channels = info.channels;
  std::vector<float> interleaved(static_cast<size_t>(frames) * static_cast<size_t>(channels));
  const sf_count_t got = sf_readf_float(closer.file, interleaved.data(), frames);
  if (got < frames) {
    const int err = sf_error(closer.file);
    std::string why = err != SF_ERR_NO_ERROR ? std::string(" (") + sf_strerror(closer.file) + ")" : "";
    return Corruption(name + ": truncated or corrupt audio: header declares " + std::to_string(frames) +
                      " frames but only " + std::to_string(std::max<sf_count_t>(got, 0)) + " could be read" + why);
  }

  Waveform wave;
  wave.sample_rate = info.samplerate;
  wave.samples.resize(static_cast<size_t>(frames));
  const float inv = 1.0f / static_cast<float>(channels);
  for (sf_count_t i = 0; i < frames; ++i) {
    const float* frame = interleaved.data() + static_cast<size_t>(i) * channels;
    float sum = 0.0f;
    for (int c = 0; c < channels; ++c) sum += frame[c];
    const float v = channels == 1 ? sum : sum * inv;
    if (!std::isfinite(v)) {
      return Corruption(name + ": corrupt audio: non-finite sample at frame " + std::to_string(i));
    }
    // Integer formats are already in [-1, 1); float files may overshoot.
    wave.samples[static_cast<size_t>(i)] = std::clamp(v, -1.0f, 1.0f);
  }

  if (options.target_sample_rate != 0 && options.target_sample_rate != wave.sample_rate) {
    auto resampled = Resample(wave.samples, wave.sample_rate, options.target_sample_rate);
    if (!resampled.ok()) return resampled.status().WithContext(name);
    if (resampled->empty()) {
      return InvalidArgument(name + ": zero-length audio after resampling " + std::to_string(frames) + " frames from " +
                             std::to_string(wave.sample_rate) + " to " + std::to_string(options.target_sample_rate) +
                             " Hz");
    }
    wave.samples = std::move(resampled).value();
    wave.sample_rate = options.target_sample_rate;
  }
  return wave;
}

}  // namespace

Result<Waveform> ReadAudio(const std::string& path, const ReadOptions& options) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return NotFound(path + ": no such audio file");
    return IoError(path + ": cannot stat: " + std::strerror(err));
  }
  if (S_ISDIR(st.st_mode)) return InvalidArgument(path + ": is a directory, not an audio file");
  if (st.st_size == 0) return Corruption(path + ": empty file (0 bytes)");
  auto bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  if (bytes->empty()) return Corruption(path + ": empty file (0 bytes)");
  return DecodeBytes(*bytes, path, options);
}

Result<Waveform> DecodeAudio(const std::string& bytes, const std::string& name, const ReadOptions& options) {
  if (bytes.empty()) return Corruption(name + ": empty file (0 bytes)");
  return DecodeBytes(bytes, name, options);
}

Status WriteAudio(const std::string& path, const Waveform& wave, const WriteOptions& options) {
  if (wave.sample_rate < kMinSampleRate || wave.sample_rate > kMaxSampleRate) {
    return InvalidArgument(path + ": cannot write audio at absurd sample rate " + std::to_string(wave.sample_rate) +
                           " Hz (allowed " + RateRange() + ")");
  }
  if (wave.samples.empty()) return InvalidArgument(path + ": cannot write zero-length audio");
  if (options.flac && options.format != SampleFormat::kPcm16) {
    return InvalidArgument(path + ": FLAC output supports PCM16 samples only");
  }
  std::vector<float> clipped(wave.samples.size());
  for (size_t i = 0; i < clipped.size(); ++i) {
    const float v = wave.samples[i];
    if (!std::isfinite(v)) {
      return InvalidArgument(path + ": cannot write non-finite sample at index " + std::to_string(i));
    }
    clipped[i] = std::clamp(v, -1.0f, 1.0f);
  }

  SF_INFO info;
  std::memset(&info, 0, sizeof(info));
  info.samplerate = wave.sample_rate;
  info.channels = 1;
  if (options.flac) {
    info.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
  } else {
    info.format = SF_FORMAT_WAV | (options.format == SampleFormat::kFloat32 ? SF_FORMAT_FLOAT : SF_FORMAT_PCM_16);
  }
  if (!sf_format_check(&info)) return Internal(path + ": libsndfile rejects the output format");

  return AtomicWriteWith(path, [&](const std::string& tmp) -> Status {
    SndFileCloser closer;
    closer.file = sf_open(tmp.c_str(), SFM_WRITE, &info);
    if (closer.file == nullptr) return IoError(path + ": cannot create " + tmp + ": " + sf_strerror(nullptr));
    // Samples are clipped above, so the float->int conversion cannot wrap.
    const auto frames = static_cast<sf_count_t>(clipped.size());
    const sf_count_t written = sf_writef_float(closer.file, clipped.data(), frames);
    if (written != frames) {
      return IoError(path + ": short write (" + std::to_string(written) + " of " + std::to_string(frames) +
                     " frames): " + sf_strerror(closer.file));
    }
    SNDFILE* file = closer.file;
    closer.file = nullptr;
    const int rc = sf_close(file);
    if (rc != 0) return IoError(path + ": closing " + tmp + " failed: " + sf_error_number(rc));
    return Status::Ok();
  });
}

}  // namespace chorus::audio
