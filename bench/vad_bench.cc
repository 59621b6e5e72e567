// vad_bench: Chorus's voice-activity model against Silero VAD (v5 and v6, run
// the upstream way by onnxruntime-node: bench/vad_anchor/silero.mjs) on the
// same test audio, in one run.
//
// The test audio is made here: recordings of yweweler's FSDD clips (the
// speaker no Chorus model is trained on) with pauses, over the six generated
// noise kinds at -5, 0, 5, 10, 20 and 30 dB SNR (data/vad_synth.h, a fixed
// seed). Both detectors are scored on one 10 ms grid against the same
// labels: Chorus gives a probability per 10 ms frame; Silero one per 32 ms
// chunk, which every 10 ms frame whose centre lies in the chunk takes.
// Printed: frame ROC-AUC and F1 overall, per SNR and per noise; CPU time per
// 32 ms of audio on one thread (Chorus streaming in 512-sample pieces through
// the front end and the model, Silero per chunk); Chorus's parameter count.
// Goals: ROC-AUC at least Silero v5's overall and at every SNR >= 0 dB; CPU
// time per chunk no more than Silero v5's; at most 500k parameters.
//   vad_bench [--model models/vad/N] [--fsdd ../shared/data/fsdd] [--no-silero]
#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "bench/bench_util.h"
#include "common/audio/features.h"
#include "common/audio/wav_io.h"
#include "common/data/segments_dataset.h"
#include "common/data/vad_synth.h"
#include "common/models/frame_stream.h"
#include "common/models/model_bundle.h"
#include "common/models/threads.h"
#include "common/tasks/vad_metrics.h"
#include "common/util/allocator.h"
#include "common/util/fs.h"

namespace {

namespace fs = std::filesystem;
using namespace chorus;

constexpr int kRate = 16000;
constexpr int kChunk = 512;
constexpr double kFrameSeconds = 0.010;

double ThreadCpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

struct Recording {
  std::string path;
  std::vector<float> samples;
  data::Segments speech;
  std::string noise;
  double snr = 0;
};

// The newest version folder under models/vad, or "".
std::string NewestModel(const std::string& repository) {
  int64_t best = -1;
  std::string dir;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(repository, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::stoll(name) > best) best = std::stoll(name), dir = e.path().string();
  }
  return dir;
}

Result<std::vector<Recording>> MakeTestSet(const std::string& fsdd, const std::string& out, int recordings) {
  data::VadSynthOptions o;
  o.out = out;
  o.recordings = recordings;
  o.min_seconds = 4;
  o.max_seconds = 10;
  o.voices = 0;
  o.fsdd_root = fsdd;
  o.fsdd_speakers = {"yweweler"};
  o.fsdd_fraction = 1;
  o.snrs_db = {-5, 0, 5, 10, 20, 30};
  o.no_speech_fraction = 0;
  o.seed = 2026;
  fs::remove_all(out);
  RETURN_IF_ERROR(data::MakeVadDataset(o));
  data::SegmentsDatasetOptions so;
  so.root = out;
  so.validation_percentage = so.testing_percentage = 0;
  ASSIGN_OR_RETURN(data::DatasetSplit split, data::LoadSegmentsDataset(so));
  ASSIGN_OR_RETURN(std::string conditions, ReadFile(out + "/conditions.csv"));
  std::map<std::string, std::pair<std::string, double>> by_file;
  std::istringstream in(conditions);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string file, noise, snr;
    std::getline(fields, file, ',');
    std::getline(fields, noise, ',');
    std::getline(fields, snr, ',');
    by_file[out + "/" + file] = {noise, std::stod(snr)};
  }
  std::vector<Recording> set;
  for (auto& e : split.train) {
    ASSIGN_OR_RETURN(audio::Waveform wave, audio::ReadAudio(e.path));
    if (wave.sample_rate != kRate) return Internal(e.path + ": not 16 kHz");
    Recording r;
    r.path = e.path;
    r.samples = std::move(wave.samples);
    r.speech = e.speech;
    r.noise = by_file[e.path].first;
    r.snr = by_file[e.path].second;
    set.push_back(std::move(r));
  }
  return set;
}

// Labels of the 10 ms frames (centre in a speech segment).
std::vector<float> FrameLabels(const Recording& r, int64_t frames) {
  std::vector<float> labels(frames, 0.0f);
  for (int64_t i = 0; i < frames; ++i) {
    const double centre = i * kFrameSeconds + 0.0125;
    for (const auto& [a, b] : r.speech) labels[i] = labels[i] > 0 || (centre >= a && centre < b) ? 1.0f : 0.0f;
  }
  return labels;
}

struct Scores {
  std::vector<std::vector<float>> per_recording;  // probability per 10 ms frame
  double cpu_us_per_chunk = 0;
  std::string error;
};

Scores RunChorus(const std::string& model_dir, const std::vector<Recording>& set, int64_t* parameters,
                 double* threshold) {
  Scores s;
  auto loaded = models::LoadModel(model_dir);
  if (!loaded.ok()) return s.error = loaded.status().ToString(), s;
  auto model = std::dynamic_pointer_cast<models::StreamingModel>(loaded->model);
  if (!model) return s.error = model_dir + " is not a streaming (per-frame) model", s;
  model->eval();
  *parameters = models::CountParameters(*model);
  *threshold = loaded->metadata.task_options.value("threshold", 0.5);
  auto fx = audio::FeatureExtractor::Create(loaded->metadata.features);
  if (!fx.ok()) return s.error = fx.status().ToString(), s;
  int64_t chunks = 0;
  double cpu = 0;
  for (const auto& r : set) {
    models::FrameStream stream(*fx, model);
    std::vector<float> logits;
    for (size_t at = 0; at + kChunk <= r.samples.size(); at += kChunk) {
      const double t0 = ThreadCpuSeconds();
      auto out = stream.Push(r.samples.data() + at, kChunk);
      cpu += ThreadCpuSeconds() - t0;
      if (!out.ok()) return s.error = out.status().ToString(), s;
      logits.insert(logits.end(), out->begin(), out->end());
      ++chunks;
    }
    std::vector<float> probs(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) probs[i] = 1.0f / (1.0f + std::exp(-logits[i]));
    s.per_recording.push_back(std::move(probs));
  }
  s.cpu_us_per_chunk = 1e6 * cpu / std::max<int64_t>(1, chunks);
  return s;
}

Scores RunSilero(const std::string& version, const std::vector<Recording>& set, const std::string& dir) {
  Scores s;
  const std::string script = bench::SourcePath("bench/vad_anchor/silero.mjs");
  if (std::system("command -v node > /dev/null 2>&1") != 0)
    return s.error = "node is not installed (setup.sh installs Debian's nodejs)", s;
  if (!fs::exists(bench::SourcePath("bench/vad_anchor/node_modules/onnxruntime-node")))
    return s.error = "bench/vad_anchor/node_modules is missing (setup.sh installs it with npm)", s;
  std::string cmd = "node " + script + " " + version;
  fs::create_directories(dir);
  for (size_t i = 0; i < set.size(); ++i) {
    const std::string f = dir + "/" + std::to_string(i) + ".f32";
    std::ofstream(f, std::ios::binary)
        .write(reinterpret_cast<const char*>(set[i].samples.data()),
               static_cast<std::streamsize>(set[i].samples.size() * sizeof(float)));
    cmd += " " + f;
  }
  auto line = bench::RunAndReadLastLine(cmd + " 2>&1");
  if (!line.ok()) return s.error = line.status().message(), s;
  nlohmann::json j = nlohmann::json::parse(*line, nullptr, false);
  if (j.is_discarded() || !j.contains("probabilities")) return s.error = "silero.mjs printed: " + *line, s;
  s.cpu_us_per_chunk = j["cpu_us_per_chunk"].get<double>();
  // Chunk k covers [k, k+1) * 32 ms: each 10 ms frame takes the chunk its centre lies in.
  for (size_t i = 0; i < set.size(); ++i) {
    const auto chunk_probs = j["probabilities"][i].get<std::vector<float>>();
    std::vector<float> frames;
    for (int64_t f = 0;; ++f) {
      const int64_t k = static_cast<int64_t>(std::floor((f * kFrameSeconds + 0.0125) * kRate / kChunk));
      if (k >= static_cast<int64_t>(chunk_probs.size())) break;
      frames.push_back(chunk_probs[k]);
    }
    s.per_recording.push_back(std::move(frames));
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vad_bench: Chorus voice activity against Silero VAD v5 and v6 on unseen-speaker audio"};
  std::string model_dir, fsdd = bench::SourcePath("../shared/data/fsdd"), repository = "models/vad";
  int recordings = 72;
  bool no_silero = false;
  app.add_option("--model", model_dir, "exported VAD model version folder (default: newest under models/vad)");
  app.add_option("--fsdd", fsdd, "FSDD folder (for yweweler's clips)")->capture_default_str();
  app.add_option("--recordings", recordings, "test recordings (a multiple of 6: one per SNR in turn)")
      ->capture_default_str()->check(CLI::Range(6, 10000));
  app.add_flag("--no-silero", no_silero, "skip the anchor");
  CLI11_PARSE(app, argc, argv);
  if (model_dir.empty()) model_dir = NewestModel(repository);
  if (model_dir.empty()) {
    std::fprintf(stderr, "vad_bench: no model under %s; train one first:\n  build/bin/chorus dataset vad-synth --out "
                         "data/vad-synth --fsdd ../shared/data/fsdd\n  build/bin/chorus-worker train "
                         "jobs/vad/synth-vad.yaml\n", repository.c_str());
    return 1;
  }
  TuneAllocatorForTensors();
  chorus::models::SetComputeThreads(1);
  const std::string out = fs::absolute("bench-out/vad").string();
  auto set = MakeTestSet(fsdd, out + "/test", recordings);
  if (!set.ok()) {
    std::fprintf(stderr, "vad_bench: %s\n", set.status().ToString().c_str());
    return 1;
  }
  double seconds = 0;
  for (const auto& r : *set) seconds += static_cast<double>(r.samples.size()) / kRate;
  int64_t parameters = 0;
  double threshold = 0.5;
  std::vector<std::pair<std::string, Scores>> detectors;
  detectors.emplace_back("chorus", RunChorus(model_dir, *set, &parameters, &threshold));
  if (!no_silero)
    for (const std::string v : {"v5", "v6"}) detectors.emplace_back("silero " + v, RunSilero(v, *set, out + "/f32"));
  // A detector that could not run is reported and left out of the table.
  for (auto it = detectors.begin() + 1; it != detectors.end();) {
    if (it->second.error.empty()) {
      ++it;
      continue;
    }
    std::string why = it->second.error;
    if (why.size() > 300) why = why.substr(why.size() - 300);
    std::printf("%s skipped: ...%s\n", it->first.c_str(), why.c_str());
    it = detectors.erase(it);
  }
  if (!detectors[0].second.error.empty()) {
    std::fprintf(stderr, "vad_bench: chorus: %s\n", detectors[0].second.error.c_str());
    return 1;
  }

  // Per condition, one VadMetrics per detector over the frames every detector scored.
  std::map<std::string, std::vector<tasks::VadMetrics>> by_condition;
  auto add = [&](const std::string& condition, size_t d, const float* p, const float* y, int64_t n) {
    auto& m = by_condition[condition];
    if (m.empty()) m.resize(detectors.size());
    m[d].AddFrames(p, y, n);
  };
  for (size_t i = 0; i < set->size(); ++i) {
    int64_t frames = INT64_MAX;
    for (const auto& [name, s] : detectors)
      if (s.error.empty()) frames = std::min<int64_t>(frames, static_cast<int64_t>(s.per_recording[i].size()));
    if (frames == INT64_MAX) continue;
    const std::vector<float> labels = FrameLabels((*set)[i], frames);
    char snr[32];
    std::snprintf(snr, sizeof snr, "SNR %+3.0f dB", (*set)[i].snr);
    for (size_t d = 0; d < detectors.size(); ++d) {
      if (!detectors[d].second.error.empty()) continue;
      const float* p = detectors[d].second.per_recording[i].data();
      add("all", d, p, labels.data(), frames);
      add(snr, d, p, labels.data(), frames);
      add("noise " + (*set)[i].noise, d, p, labels.data(), frames);
    }
  }

  std::printf("voice activity on %zu recordings (%.0f s) of yweweler (never trained on) over 6 noises at -5..30 dB\n",
              set->size(), seconds);
  std::printf("model %s: %lld parameters; Chorus F1 at its threshold %.3f (chosen on validation data), Silero at "
              "0.5\n\n", model_dir.c_str(), static_cast<long long>(parameters), threshold);
  std::printf("%-18s", "condition");
  for (const auto& [name, s] : detectors) std::printf(" %13s", (name + " AUC").c_str());
  for (const auto& [name, s] : detectors) std::printf(" %12s", (name + " F1").c_str());
  std::printf("\n");
  bool auc_met = true;
  std::vector<std::string> order = {"all"};
  for (const auto& [c, m] : by_condition)
    if (c.rfind("SNR", 0) == 0) order.push_back(c);
  std::sort(order.begin() + 1, order.end(), [](const std::string& a, const std::string& b) {
    return std::stod(a.substr(4)) < std::stod(b.substr(4));
  });
  for (const auto& [c, m] : by_condition)
    if (c.rfind("noise", 0) == 0) order.push_back(c);
  for (const auto& c : order) {
    const auto& m = by_condition[c];
    std::printf("%-18s", c.c_str());
    for (size_t d = 0; d < detectors.size(); ++d) std::printf(" %13.4f", m[d].RocAuc());
    for (size_t d = 0; d < detectors.size(); ++d) std::printf(" %12.4f", m[d].At(d == 0 ? threshold : 0.5).f1);
    const bool counts = c == "all" || (c.rfind("SNR", 0) == 0 && std::stod(c.substr(4)) >= 0);
    if (detectors.size() > 1 && detectors[1].first == "silero v5" && counts) {
      const bool met = m[0].RocAuc() >= m[1].RocAuc();
      auc_met = auc_met && met;
      std::printf("   %s", met ? "" : "(below v5)");
    }
    std::printf("\n");
  }
  std::printf("\nCPU time per 32 ms of audio, one thread:");
  for (const auto& [name, s] : detectors)
    if (s.error.empty()) std::printf("  %s %.0f us", name.c_str(), s.cpu_us_per_chunk);
  std::printf("\n");
  if (detectors.size() > 1 && detectors[1].first == "silero v5") {
    const double ratio = detectors[0].second.cpu_us_per_chunk / detectors[1].second.cpu_us_per_chunk;
    std::printf("goals: ROC-AUC >= Silero v5 overall and at every SNR >= 0 dB: %s; CPU per chunk <= Silero v5 "
                "(%.2fx): %s; parameters <= 500k (%lld): %s\n",
                auc_met ? "met" : "NOT met", ratio, ratio <= 1.0 ? "met" : "NOT met",
                static_cast<long long>(parameters), parameters <= 500000 ? "met" : "NOT met");
  }
  return 0;
}
