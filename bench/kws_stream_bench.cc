// Keyword spotting on a live stream against the same model on perfectly cut
// clips. A speaker's FSDD recordings, shuffled, with pauses of faint noise
// between them, are played to the served model in 32 ms chunks as one
// streaming session, each chunk through ServedModel::StreamChunk as a worker
// runs it (sliding window, smoothing, threshold, refractory period). Each
// spoken digit is a hit (its digit reported while the word is in the
// window), a substitution (another digit) or a miss; any other keyword is a
// false alarm. The threshold is chosen on the validation speaker's stream
// (most hits less false alarms), with how long the spotter follows a peak
// (peak_ms) and how many windows it averages (smooth), and the test
// speaker's stream is scored once with them. The anchor is the model's accuracy on the same words cut exactly
// (what fsdd_bench reports): the stream's cost is the gap to it.
//   kws_stream_bench --model DIR [--fsdd DIR] [--validation-speaker nicolas]
//                    [--test-speaker yweweler] [--words 200] [--chunk-ms 32]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "bench/bench_util.h"
#include "common/audio/wav_io.h"
#include "common/data/fsdd.h"
#include "common/models/threads.h"
#include "common/tasks/outputs.h"
#include "common/util/logging.h"
#include "worker/serve/served_model.h"

namespace {

using chorus::Result;
using chorus::Status;
using chorus::proto::InferReply;
using chorus::proto::InferRequest;
using chorus::serve::ServedModel;

struct Word {
  double start = 0, end = 0;  // seconds into the stream
  std::string label;
  std::vector<float> samples;
};

struct Stream {
  std::vector<float> samples;
  std::vector<Word> words;
};

struct Options {
  int words = 200;
  double chunk_ms = 32;
  double gap_min_s = 1.0, gap_max_s = 2.0;
  double noise_db = -60;  // the pauses' noise, RMS dB full scale
  uint64_t seed = 7;
};

// The speaker's recordings (up to opts.words, shuffled) at `rate`, with pauses.
Result<Stream> MakeStream(const std::vector<chorus::data::Example>& examples, const std::vector<std::string>& labels,
                          int rate, const Options& opts) {
  std::mt19937_64 rng(opts.seed);
  std::vector<chorus::data::Example> order = examples;
  std::shuffle(order.begin(), order.end(), rng);
  if (static_cast<int>(order.size()) > opts.words) order.resize(static_cast<size_t>(opts.words));
  std::uniform_real_distribution<double> gap(opts.gap_min_s, opts.gap_max_s);
  std::normal_distribution<float> noise(0.0f, static_cast<float>(std::pow(10.0, opts.noise_db / 20)));
  Stream s;
  auto pause = [&](double seconds) {
    for (int64_t i = 0; i < static_cast<int64_t>(seconds * rate); ++i) s.samples.push_back(noise(rng));
  };
  for (const auto& e : order) {
    pause(gap(rng));
    chorus::audio::ReadOptions read;
    read.target_sample_rate = rate;
    ASSIGN_OR_RETURN(chorus::audio::Waveform w, chorus::audio::ReadAudio(e.path, read));
    Word word;
    word.start = static_cast<double>(s.samples.size()) / rate;
    word.end = word.start + static_cast<double>(w.samples.size()) / rate;
    word.label = labels[static_cast<size_t>(e.label)];
    s.samples.insert(s.samples.end(), w.samples.begin(), w.samples.end());
    word.samples = std::move(w.samples);
    s.words.push_back(std::move(word));
  }
  pause(opts.gap_max_s);
  return s;
}

struct Spotted {
  std::string keyword;
  double seconds = 0;
};

struct Played {
  std::vector<Spotted> keywords;
  std::vector<double> chunk_us;  // per chunk, the model's time
};

// The spotter's settings a chunk may carry.
struct Setting {
  double threshold = 0.7, peak_ms = 300;
  int smooth = 3;
};

Result<Played> Play(ServedModel& model, const Stream& s, const Setting& setting, const Options& opts) {
  const int rate = model.info().sample_rate();
  const size_t chunk = std::max<size_t>(1, static_cast<size_t>(opts.chunk_ms * rate / 1000));
  Played out;
  std::string state;
  for (size_t from = 0; from < s.samples.size(); from += chunk) {
    const size_t to = std::min(s.samples.size(), from + chunk);
    InferRequest r;
    r.mutable_sequence()->set_id("bench");
    r.mutable_sequence()->set_end(to == s.samples.size());
    r.set_stream_state(state);
    (*r.mutable_parameters())["threshold"] = setting.threshold;
    (*r.mutable_parameters())["peak_ms"] = setting.peak_ms;
    (*r.mutable_parameters())["smooth"] = setting.smooth;
    r.mutable_pcm()->set_sample_rate(rate);
    r.mutable_pcm()->mutable_samples()->Add(s.samples.begin() + static_cast<long>(from),
                                            s.samples.begin() + static_cast<long>(to));
    InferReply reply;
    const auto t0 = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(model.StreamChunk(r, &reply));
    out.chunk_us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    const auto* words = chorus::tasks::FindOutput(reply, "keywords");
    const auto* times = chorus::tasks::FindOutput(reply, "keyword_times");
    for (int k = 0; words && times && k < words->bytes_size(); ++k) out.keywords.push_back({words->bytes(k), times->fp32(k)});
    state = reply.stream_state();
  }
  return out;
}

struct Score {
  int words = 0, hits = 0, substitutions = 0, misses = 0, false_alarms = 0;
  double hours = 0;
  double hit_rate() const { return words ? static_cast<double>(hits) / words : 0; }
  double false_alarms_per_hour() const { return hours > 0 ? false_alarms / hours : 0; }
};

// A keyword belongs to the first unmatched word whose audio it could have
// heard: from the word's start to its end plus one window.
Score Grade(const Stream& s, const Played& p, double window_s, int rate) {
  Score score;
  score.words = static_cast<int>(s.words.size());
  score.hours = static_cast<double>(s.samples.size()) / rate / 3600;
  std::vector<bool> matched(s.words.size(), false);
  for (const Spotted& k : p.keywords) {
    bool placed = false;
    for (size_t i = 0; i < s.words.size() && !placed; ++i) {
      if (matched[i] || k.seconds < s.words[i].start || k.seconds > s.words[i].end + window_s) continue;
      matched[i] = placed = true;
      (k.keyword == s.words[i].label ? score.hits : score.substitutions) += 1;
    }
    if (!placed) ++score.false_alarms;
  }
  score.misses = static_cast<int>(std::count(matched.begin(), matched.end(), false));
  return score;
}

// The anchor: each word cut exactly, one clip request each.
Result<double> ClipAccuracy(ServedModel& model, const Stream& s) {
  int right = 0;
  for (const Word& w : s.words) {
    InferRequest r;
    r.mutable_pcm()->set_sample_rate(model.info().sample_rate());
    r.mutable_pcm()->mutable_samples()->Add(w.samples.begin(), w.samples.end());
    ASSIGN_OR_RETURN(at::Tensor x, model.Prepare(r));
    InferReply reply;
    std::vector<InferReply*> replies = {&reply};
    RETURN_IF_ERROR(model.Predict({x}, {&r}, replies));
    const auto* labels = chorus::tasks::FindOutput(reply, "labels");
    if (labels && labels->bytes_size() > 0 && labels->bytes(0) == w.label) ++right;
  }
  return s.words.empty() ? 0.0 : static_cast<double>(right) / static_cast<double>(s.words.size());
}

void PrintRow(const char* who, const Setting& setting, const Score& sc) {
  std::printf("%-22s %9.2f %7.0f %6d %7.1f%% %6d %6d %6d %8.1f\n", who, setting.threshold, setting.peak_ms,
              setting.smooth, 100 * sc.hit_rate(), sc.substitutions, sc.misses, sc.false_alarms,
              sc.false_alarms_per_hour());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Keyword spotting on a live stream (sliding window) against the same model on cut clips"};
  std::string model_dir, fsdd = chorus::bench::SourcePath("../shared/data/fsdd"), validation = "nicolas",
                         test = "yweweler";
  Options opts;
  std::vector<double> thresholds = {0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  std::vector<double> peaks = {0, 300};
  std::vector<int> smooths = {1, 3, 5};
  app.add_option("--model", model_dir, "a classify model's version folder (models/NAME/VERSION)")->required();
  app.add_option("--fsdd", fsdd, "FSDD folder")->capture_default_str();
  app.add_option("--validation-speaker", validation, "the threshold is chosen on this speaker's stream (one the "
                                                      "model did not train on)")->capture_default_str();
  app.add_option("--test-speaker", test, "scored once, with the chosen threshold")->capture_default_str();
  app.add_option("--words", opts.words, "words per stream")->capture_default_str();
  app.add_option("--chunk-ms", opts.chunk_ms, "audio per chunk")->capture_default_str();
  app.add_option("--thresholds", thresholds, "thresholds tried on the validation stream")->delimiter(',');
  app.add_option("--peaks", peaks, "peak_ms tried on the validation stream (0: a keyword at the first window over "
                                   "the threshold)")->delimiter(',');
  app.add_option("--smooths", smooths, "windows averaged, tried on the validation stream")->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  chorus::InitLogging("warn");
  chorus::models::SetComputeThreads(1);

  auto model = ServedModel::Load(model_dir);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  if (!(*model)->info().streams() || (*model)->info().task() != "classify") {
    std::fprintf(stderr, "%s is not a keyword spotter that streams\n", model_dir.c_str());
    return 1;
  }
  const int rate = (*model)->info().sample_rate();
  const double window_s = (*model)->info().clip_seconds();
  chorus::data::FsddOptions fo;
  fo.root = fsdd;
  fo.train_speakers = {validation};
  fo.test_speakers = {test};
  auto split = chorus::data::LoadFsdd(fo);
  if (!split.ok()) {
    std::fprintf(stderr, "%s\n", split.status().ToString().c_str());
    return 1;
  }
  auto val = MakeStream(split->train, split->labels, rate, opts);
  auto tst = MakeStream(split->test, split->labels, rate, opts);
  if (!val.ok() || !tst.ok()) {
    std::fprintf(stderr, "%s\n", (val.ok() ? tst.status() : val.status()).ToString().c_str());
    return 1;
  }
  std::printf("model %s (%g s window, %d Hz); streams of %zu words with %.1f-%.1f s pauses (noise at %.0f dBFS), "
              "%g ms chunks\n",
              model_dir.c_str(), window_s, rate, val->words.size(), opts.gap_min_s, opts.gap_max_s, opts.noise_db,
              opts.chunk_ms);
  std::printf("%-22s %9s %7s %6s %8s %6s %6s %6s %8s\n", "stream", "threshold", "peak ms", "smooth", "hits", "subst",
              "missed", "FA", "FA/hour");
  Setting chosen;
  double best = -1e9;
  for (int smooth : smooths)
    for (double peak : peaks)
      for (double t : thresholds) {
        const Setting setting{t, peak, smooth};
        auto played = Play(**model, *val, setting, opts);
        if (!played.ok()) {
          std::fprintf(stderr, "%s\n", played.status().ToString().c_str());
          return 1;
        }
        const Score sc = Grade(*val, *played, window_s, rate);
        PrintRow(("validation " + validation).c_str(), setting, sc);
        if (sc.hits - sc.false_alarms > best) best = sc.hits - sc.false_alarms, chosen = setting;
      }
  auto played = Play(**model, *tst, chosen, opts);
  if (!played.ok()) {
    std::fprintf(stderr, "%s\n", played.status().ToString().c_str());
    return 1;
  }
  const Score sc = Grade(*tst, *played, window_s, rate);
  PrintRow(("test " + test + " (chosen)").c_str(), chosen, sc);
  auto clip_val = ClipAccuracy(**model, *val);
  auto clip_test = ClipAccuracy(**model, *tst);
  if (!clip_val.ok() || !clip_test.ok()) {
    std::fprintf(stderr, "%s\n", (clip_val.ok() ? clip_test.status() : clip_val.status()).ToString().c_str());
    return 1;
  }
  const double audio_s = static_cast<double>(tst->samples.size()) / rate;
  double compute_s = 0;
  for (double us : played->chunk_us) compute_s += us / 1e6;
  std::printf("\nanchor: the same words cut exactly, one clip each: %s %.1f%%, %s %.1f%%\n", validation.c_str(),
              100 * *clip_val, test.c_str(), 100 * *clip_test);
  std::printf("%s: stream hits %.1f%% vs clips %.1f%%: ratio %.3f; %d false alarms in %.1f min of audio\n",
              test.c_str(), 100 * sc.hit_rate(), 100 * *clip_test, *clip_test > 0 ? sc.hit_rate() / *clip_test : 0,
              sc.false_alarms, audio_s / 60);
  std::printf("stream compute: %.2f%% of one core (real-time factor %.4f); per chunk p50 %.0f us, p99 %.0f us\n",
              100 * compute_s / audio_s, compute_s / audio_s, chorus::bench::Quantile(played->chunk_us, 0.5),
              chorus::bench::Quantile(played->chunk_us, 0.99));
  return 0;
}
