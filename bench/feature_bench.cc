// feature_bench: how fast the Chorus front end is against torchaudio, on one
// thread, in one run.
//
//   feature_bench [FSDD_DIR]
//
// FSDD_DIR (default: $CHORUS_FSDD_DIR, else <source>/../shared/data/fsdd, with
// <source> from $CHORUS_SOURCE_DIR or this file's location) holds
// recordings/*.wav. Every clip is read and resampled to 16 kHz, then
// kKaldiFbank and kLogMel are timed over all clips (best of several passes
// after a warm-up). The same samples go to bench/torchaudio_fbank_bench.py
// (/usr/bin/python3, torch.set_num_threads(1)), which times
// torchaudio.compliance.kaldi.fbank and MelSpectrogram + log the same way.
// A synthetic 60 s signal is always timed too (one long clip: throughput
// rather than per-call overhead); without FSDD it is the only workload.
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_util.h"
#include "common/audio/features.h"
#include "common/audio/wav_io.h"

namespace fs = std::filesystem;
using chorus::audio::FeatureExtractor;
using chorus::audio::FeatureKind;
using chorus::audio::FeatureKindName;
using chorus::audio::FeatureOptions;

namespace {

constexpr int kRate = 16000;

struct Workload {
  std::string name;
  std::vector<std::vector<float>> clips;
  double seconds = 0.0;
  int repeats = 5;  // timed passes; the best one counts
};

struct Row {
  std::string workload;
  std::string extractor;
  double audio_s = 0.0;
  double ours_s = 0.0;
  double theirs_s = 0.0;
  int64_t ours_frames = 0;
  int64_t theirs_frames = 0;
};


std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

Workload LoadFsdd(const fs::path& dir) {
  Workload w;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir / "recordings")) {
    if (entry.path().extension() == ".wav") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto wave = chorus::audio::ReadAudio(file.string(), {kRate});
    if (!wave.ok()) {
      std::cerr << "skipping " << wave.status().ToString() << "\n";
      continue;
    }
    if (wave->samples.size() < 400) continue;  // shorter than one window
    w.seconds += wave->seconds();
    w.clips.push_back(std::move(wave->samples));
  }
  w.name = "fsdd " + std::to_string(w.clips.size()) + " clips";
  return w;
}

Workload Synthetic() {
  Workload w;
  const int64_t n = 60LL * kRate;
  std::vector<float> x(static_cast<size_t>(n));
  std::mt19937_64 rng(1);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  for (int64_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / kRate;
    x[static_cast<size_t>(i)] = static_cast<float>(0.4 * std::sin(2 * M_PI * (200.0 + 30.0 * t) * t)) + noise(rng);
  }
  w.clips.push_back(std::move(x));
  w.seconds = 60.0;
  w.repeats = 15;  // one short pass: more of them to get past noise from other processes
  w.name = "synthetic 1 x 60 s";
  return w;
}

// Best wall time of w.repeats passes over every clip, after one warm-up pass.
double TimeOurs(const FeatureExtractor& fe, const Workload& w, int64_t* frames) {
  *frames = 0;
  for (const auto& clip : w.clips) *frames += fe.Compute(clip).value().size(0);
  double best = 1e30;
  for (int r = 0; r < w.repeats; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (const auto& clip : w.clips) {
      auto feats = fe.Compute(clip);
      if (!feats.ok()) {
        std::cerr << feats.status().ToString() << "\n";
        std::exit(1);
      }
    }
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

// Runs the torchaudio script on the same samples; returns its JSON.
nlohmann::json TimeTorchaudio(const Workload& w, const FeatureOptions& o, const fs::path& tmp) {
  const fs::path samples = tmp / "samples.f32";
  const fs::path lengths = tmp / "lengths.i64";
  {
    std::ofstream s(samples, std::ios::binary);
    std::ofstream l(lengths, std::ios::binary);
    for (const auto& clip : w.clips) {
      s.write(reinterpret_cast<const char*>(clip.data()), static_cast<std::streamsize>(clip.size() * sizeof(float)));
      const auto n = static_cast<int64_t>(clip.size());
      l.write(reinterpret_cast<const char*>(&n), sizeof(n));
    }
  }
  std::ostringstream cmd;
  cmd << "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /usr/bin/python3 "
      << Quote(chorus::bench::SourcePath("bench/torchaudio_fbank_bench.py")) << " " << Quote(samples.string()) << " "
      << Quote(lengths.string()) << " sample_rate=" << o.sample_rate << " window_ms=" << o.window_ms
      << " hop_ms=" << o.hop_ms << " n_mels=" << o.n_mels << " f_min=" << o.f_min << " f_max=" << o.f_max
      << " n_fft=512 repeats=" << w.repeats;
  FILE* pipe = popen(cmd.str().c_str(), "r");
  if (pipe == nullptr) return nullptr;
  std::string out;
  char buf[4096];
  size_t got;
  while ((got = fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, got);
  const int rc = pclose(pipe);
  if (rc != 0) {
    std::cerr << "torchaudio bench failed (" << rc << "): " << cmd.str() << "\n" << out << "\n";
    return nullptr;
  }
  return nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
}

}  // namespace

int main(int argc, char** argv) {
  torch::set_num_threads(1);
  const auto t0 = std::chrono::steady_clock::now();

  fs::path fsdd;
  if (argc > 1) {
    fsdd = argv[1];
  } else if (const char* env = std::getenv("CHORUS_FSDD_DIR"); env != nullptr && *env != '\0') {
    fsdd = env;
  } else {
    fsdd = chorus::bench::SourcePath("../shared/data/fsdd");
  }

  std::vector<Workload> workloads;
  std::error_code ec;
  if (fs::is_directory(fsdd / "recordings", ec)) {
    workloads.push_back(LoadFsdd(fsdd));
    if (workloads.back().clips.empty()) workloads.pop_back();
  } else {
    std::cerr << "no FSDD recordings under " << fsdd << "; using the synthetic signal only\n";
  }
  workloads.push_back(Synthetic());

  FeatureOptions base;  // 16 kHz, 25 ms / 10 ms, 40 mels, 20 Hz .. Nyquist
  base.sample_rate = kRate;
  base.n_mels = 40;

  const fs::path tmp = fs::temp_directory_path() / ("chorus_feature_bench_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  std::vector<Row> rows;
  std::string versions;
  for (const auto& w : workloads) {
    const nlohmann::json theirs = TimeTorchaudio(w, base, tmp);
    if (theirs.is_discarded() || theirs.is_null()) {
      std::cerr << "no torchaudio figures for " << w.name << "\n";
    } else {
      versions = theirs.value("versions", "");
    }
    for (FeatureKind kind : {FeatureKind::kKaldiFbank, FeatureKind::kLogMel}) {
      FeatureOptions o = base;
      o.kind = kind;
      auto fe = FeatureExtractor::Create(o);
      if (!fe.ok()) {
        std::cerr << fe.status().ToString() << "\n";
        return 1;
      }
      Row row{w.name, FeatureKindName(kind), w.seconds};
      row.ours_s = TimeOurs(*fe, w, &row.ours_frames);
      if (!theirs.is_discarded() && !theirs.is_null()) {
        row.theirs_s = theirs[FeatureKindName(kind)]["wall_s"].get<double>();
        row.theirs_frames = theirs[FeatureKindName(kind)]["frames"].get<int64_t>();
      }
      rows.push_back(row);
    }
  }
  fs::remove_all(tmp, ec);

  std::cout << "feature_bench: one thread each (torch::set_num_threads(1) / torch.set_num_threads(1)), best of "
            << "5 (fsdd) / 15 (synthetic) passes after a warm-up; " << (versions.empty() ? "torchaudio unavailable" : versions)
            << "\n";
  std::cout << "kaldi_fbank: 25 ms / 10 ms, 40 mel bins, 20 Hz .. Nyquist, 16 kHz; torchaudio = "
               "compliance.kaldi.fbank (dither 0)\n";
  std::cout << "log_mel:     same framing, n_fft 512, HTK mel; torchaudio = transforms.MelSpectrogram(center=False) "
               "+ log(x + 1e-6)\n\n";
  std::cout << std::left << std::setw(20) << "workload" << std::setw(13) << "extractor" << std::right
            << std::setw(10) << "audio s" << std::setw(11) << "ours s" << std::setw(11) << "ours xRT" << std::setw(9)
            << "ta s" << std::setw(10) << "ta xRT" << std::setw(14) << "ours/ta speed" << "\n";
  std::cout << std::fixed;
  for (const auto& r : rows) {
    std::cout << std::left << std::setw(20) << r.workload << std::setw(13) << r.extractor << std::right
              << std::setprecision(1) << std::setw(10) << r.audio_s << std::setprecision(3) << std::setw(11)
              << r.ours_s << std::setprecision(0) << std::setw(11) << r.audio_s / r.ours_s;
    if (r.theirs_s > 0) {
      std::cout << std::setprecision(3) << std::setw(9) << r.theirs_s << std::setprecision(0) << std::setw(10)
                << r.audio_s / r.theirs_s << std::setprecision(2) << std::setw(13) << r.theirs_s / r.ours_s << "x";
    } else {
      std::cout << std::setw(9) << "-" << std::setw(10) << "-" << std::setw(14) << "-";
    }
    std::cout << "\n";
  }
  std::cout << "\nframes (ours / torchaudio):";
  for (const auto& r : rows) {
    std::cout << " " << r.extractor << "@" << r.workload.substr(0, r.workload.find(' ')) << " " << r.ours_frames
              << "/" << r.theirs_frames << ";";
  }
  std::cout << "\ntotal bench time " << std::setprecision(1)
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
  return 0;
}
