#include "common/data/synth.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "common/audio/wav_io.h"
#include "common/data/speech_commands.h"
#include "common/util/fs.h"
#include "data_test_util.h"

namespace chorus::data {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;

// Every file under root: relative path -> bytes.
std::map<std::string, std::string> ReadTree(const std::string& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    auto bytes = ReadFile(e.path().string());
    EXPECT_TRUE(bytes.ok());
    out[fs::relative(e.path(), root).string()] = bytes.ok() ? *bytes : "";
  }
  return out;
}

double Rms(const std::vector<float>& x) {
  double e = 0;
  for (float s : x) e += static_cast<double>(s) * s;
  return x.empty() ? 0.0 : std::sqrt(e / x.size());
}

// Largest normalised cross-correlation over all lags (decimated by 4 for speed).
double MaxXcorr(const std::vector<float>& a_in, const std::vector<float>& b_in) {
  std::vector<double> a, b;
  for (size_t i = 0; i < a_in.size(); i += 4) a.push_back(a_in[i]);
  for (size_t i = 0; i < b_in.size(); i += 4) b.push_back(b_in[i]);
  double na = 0, nb = 0;
  for (double v : a) na += v * v;
  for (double v : b) nb += v * v;
  double best = 0;
  const long n = static_cast<long>(a.size()), m = static_cast<long>(b.size());
  for (long lag = -m + 1; lag < n; ++lag) {
    double s = 0;
    for (long j = std::max(0L, -lag); j < m && j + lag < n; ++j) s += a[j + lag] * b[j];
    best = std::max(best, std::fabs(s));
  }
  return best / std::sqrt(na * nb);
}

SynthOptions Tiny(const std::string& root) {
  SynthOptions o;
  o.root = root;
  o.words = {"yes", "no", "cat"};
  o.num_voices = 3;
  o.noise_files = 4;
  o.noise_seconds = 0.5;
  o.sample_rate = 16000;
  o.clip_seconds = 1.0;
  o.seed = 11;
  return o;
}

TEST(Synth, WritesSpeechCommandsLayout) {
  ScratchDir dir("synth");
  SynthOptions o = Tiny(dir / "ds");
  std::vector<std::pair<int64_t, int64_t>> calls;
  const auto t0 = std::chrono::steady_clock::now();
  Status st = SynthesizeDataset(o, [&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::cout << "[ timing ] 9 clips + 4 noise files in " << secs << " s" << std::endl;
  ASSERT_EQ(calls.size(), 9u);
  for (size_t i = 0; i < calls.size(); ++i)
    EXPECT_EQ(calls[i], std::make_pair(static_cast<int64_t>(i + 1), int64_t{9}));

  std::set<std::string> speakers;
  std::map<std::string, std::vector<std::vector<float>>> clips;
  for (const std::string word : {"yes", "no", "cat"}) {
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(dir / ("ds/" + word))) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    ASSERT_EQ(files.size(), 3u) << word;
    for (const auto& f : files) {
      const std::string base = fs::path(f).filename().string();
      ASSERT_EQ(base.size(), std::string("01234567_nohash_0.wav").size()) << base;
      EXPECT_EQ(base.substr(8), "_nohash_0.wav");
      EXPECT_EQ(base.find_first_not_of("0123456789abcdef"), 8u) << base;
      speakers.insert(base.substr(0, 8));
      auto w = audio::ReadAudio(f);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      EXPECT_EQ(w->sample_rate, 16000);
      EXPECT_EQ(w->samples.size(), 16000u) << f;
      EXPECT_GT(Rms(w->samples), 0.02) << f;
      float peak = 0;
      for (float s : w->samples) peak = std::max(peak, std::fabs(s));
      EXPECT_LE(peak, 0.96f);
      EXPECT_GE(peak, 0.4f);
      clips[word].push_back(w->samples);
    }
  }
  EXPECT_EQ(speakers.size(), 3u) << "the same 3 speaker ids in every word folder";

  // Different voices give different audio (not just shifted or scaled copies).
  for (const auto& [word, list] : clips) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = i + 1; j < list.size(); ++j) {
        EXPECT_LT(MaxXcorr(list[i], list[j]), 0.95) << word << " voices " << i << " and " << j;
      }
    }
  }

  std::vector<std::string> noise;
  for (const auto& e : fs::directory_iterator(dir / "ds/_background_noise_")) noise.push_back(e.path().string());
  ASSERT_EQ(noise.size(), 4u);
  for (const auto& f : noise) {
    auto w = audio::ReadAudio(f);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(w->samples.size(), 8000u) << f;
    EXPECT_GT(Rms(w->samples), 0.03) << f;
  }
  // The colours differ as they should: lag-1 autocorrelation white ~ 0 < pink < brown ~ 1.
  auto lag1 = [&](const std::string& name) {
    auto w = audio::ReadAudio(dir / ("ds/_background_noise_/" + name));
    EXPECT_TRUE(w.ok()) << name << ": " << w.status().ToString();
    if (!w.ok()) return 0.0;
    double num = 0, den = 0;
    for (size_t i = 1; i < w->samples.size(); ++i) num += static_cast<double>(w->samples[i]) * w->samples[i - 1];
    for (float v : w->samples) den += static_cast<double>(v) * v;
    return num / den;
  };
  const double white = lag1("white_noise.wav"), pink = lag1("pink_noise.wav"), brown = lag1("brown_noise.wav");
  EXPECT_LT(std::fabs(white), 0.1);
  EXPECT_GT(pink, white + 0.2);
  EXPECT_GT(brown, 0.95);
  EXPECT_GT(brown, pink);
  // The hum is mostly 50 Hz and its harmonics: it correlates with itself 20 ms later.
  {
    auto hum = audio::ReadAudio(dir / "ds/_background_noise_/hum_50hz.wav");
    ASSERT_TRUE(hum.ok()) << hum.status().ToString();
    const size_t period = 16000 / 50;
    double num = 0, den = 0;
    for (size_t i = period; i < hum->samples.size(); ++i) {
      num += static_cast<double>(hum->samples[i]) * hum->samples[i - period];
      den += static_cast<double>(hum->samples[i]) * hum->samples[i];
    }
    EXPECT_GT(num / den, 0.8);
  }
  EXPECT_TRUE(fs::exists(dir / "ds/voices.json"));
  EXPECT_TRUE(fs::exists(dir / "ds/README.txt"));
  if (testing::HavePython()) {
    int rc = 0;
    std::string out =
        testing::RunPython("import json; d = json.load(open(\"" + dir / "ds/voices.json" +
                               "\")); print(len(d[\"voices\"]), sorted(v[\"id\"] for v in d[\"voices\"]))",
                           &rc);
    EXPECT_EQ(rc, 0) << out;
    std::string ids;
    for (const auto& id : speakers) ids += (ids.empty() ? "['" : ", '") + id + "'";
    EXPECT_EQ(out, "3 " + ids + "]\n");
  }

  // The speech-commands reader takes it back.
  SpeechCommandsOptions sc;
  sc.root = dir / "ds";
  sc.words = {"yes", "no"};
  auto split = LoadSpeechCommands(sc);
  ASSERT_TRUE(split.ok()) << split.status().ToString();
  EXPECT_EQ(split->labels, (std::vector<std::string>{"_silence_", "_unknown_", "yes", "no"}));
  EXPECT_EQ(split->noise_files.size(), 4u);
  size_t words = 0;
  for (const auto* list : {&split->train, &split->validation, &split->test}) {
    for (const auto& e : *list) {
      if (e.label >= 2) {
        ++words;
        EXPECT_EQ(speakers.count(e.speaker), 1u) << e.path;
      }
    }
  }
  EXPECT_EQ(words, 6u);
}

TEST(Synth, DeterministicAndOrderIndependent) {
  ScratchDir dir("synth_det");
  SynthOptions a = Tiny(dir / "a");
  SynthOptions b = Tiny(dir / "b");
  ASSERT_TRUE(SynthesizeDataset(a).ok());
  ASSERT_TRUE(SynthesizeDataset(b).ok());
  auto ta = ReadTree(a.root), tb = ReadTree(b.root);
  ASSERT_EQ(ta.size(), 3u * 3 + 4 + 2);
  EXPECT_TRUE(ta == tb) << "same options must give byte-identical files";

  // A clip depends only on (seed, word, voice, take): "no" alone with 2 voices
  // gives the same files as the matching part of the full run.
  SynthOptions c = Tiny(dir / "c");
  c.words = {"no"};
  c.num_voices = 2;
  c.noise_files = 0;
  ASSERT_TRUE(SynthesizeDataset(c).ok());
  auto tc = ReadTree(c.root);
  int compared = 0;
  for (const auto& [rel, bytes] : tc) {
    if (rel.rfind("no/", 0) != 0) continue;
    ASSERT_TRUE(ta.count(rel)) << rel;
    EXPECT_TRUE(ta[rel] == bytes) << rel;
    ++compared;
  }
  EXPECT_EQ(compared, 2);
  EXPECT_FALSE(fs::exists(dir / "c/_background_noise_"));

  // Another seed gives other voices.
  SynthOptions d = Tiny(dir / "d");
  d.seed = 12;
  d.words = {"no"};
  ASSERT_TRUE(SynthesizeDataset(d).ok());
  for (const auto& [rel, bytes] : ReadTree(d.root)) {
    if (rel.rfind("no/", 0) == 0) {
      EXPECT_EQ(ta.count(rel), 0u) << rel;
    }
  }
}

TEST(Synth, TakesAndClipLength) {
  ScratchDir dir("synth_takes");
  SynthOptions o = Tiny(dir / "t");
  o.words = {"seven"};
  o.num_voices = 1;
  o.takes_per_voice = 3;
  o.sample_rate = 8000;
  o.clip_seconds = 0.3;  // shorter than the word: centre-cropped
  o.noise_files = 0;
  ASSERT_TRUE(SynthesizeDataset(o).ok());
  auto tree = ReadTree(o.root);
  std::set<std::string> bytes;
  for (const auto& [rel, b] : tree) {
    if (rel.rfind("seven/", 0) != 0) continue;
    auto w = audio::ReadAudio(o.root + "/" + rel);
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(w->samples.size(), 2400u);
    EXPECT_EQ(w->sample_rate, 8000);
    bytes.insert(b);
  }
  EXPECT_EQ(bytes.size(), 3u) << "each take has its own jitter";
}

TEST(Synth, DefaultWords) {
  EXPECT_EQ(CommandWords().size(), 10u);
  EXPECT_EQ(DigitWords().size(), 10u);
  EXPECT_EQ(DigitWords()[0], "zero");
  EXPECT_EQ(OtherWords().size(), 10u);
  SynthOptions o;
  o.root = "/tmp/unused";
  EXPECT_TRUE(ValidateSynthOptions(o).ok());
}

TEST(Synth, RejectsBadOptions) {
  auto expect_bad = [](SynthOptions o, const std::string& needle) {
    Status st = ValidateSynthOptions(o);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << needle;
    EXPECT_NE(st.message().find(needle), std::string::npos) << st.ToString();
    EXPECT_EQ(SynthesizeDataset(o).code(), StatusCode::kInvalidArgument) << needle;
  };
  SynthOptions good;
  good.root = "/tmp/chorus_synth_never_written";
  good.words = {"yes"};
  ASSERT_TRUE(ValidateSynthOptions(good).ok());
  SynthOptions o = good;
  o.root = "";
  expect_bad(o, "root");
  o = good;
  o.num_voices = 0;
  expect_bad(o, "num_voices");
  o = good;
  o.takes_per_voice = 0;
  expect_bad(o, "takes_per_voice");
  o = good;
  o.sample_rate = 100;
  expect_bad(o, "sample_rate");
  o = good;
  o.sample_rate = 1000000;
  expect_bad(o, "sample_rate");
  o = good;
  o.clip_seconds = 0;
  expect_bad(o, "clip_seconds");
  o = good;
  o.clip_seconds = std::nan("");
  expect_bad(o, "clip_seconds");
  o = good;
  o.noise_files = -1;
  expect_bad(o, "noise_files");
  o = good;
  o.noise_seconds = 0;
  expect_bad(o, "noise_seconds");
  o = good;
  o.words = {"yes", "../evil"};
  expect_bad(o, "../evil");
  o = good;
  o.words = {"_background_noise_"};
  expect_bad(o, "_background_noise_");
  o = good;
  o.words = {"yes", "yes"};
  expect_bad(o, "twice");
  o = good;
  o.words = {""};
  expect_bad(o, "word");
  EXPECT_FALSE(fs::exists(good.root));
}

// Manual benchmark (run with --gtest_also_run_disabled_tests): the default 30
// words at CHORUS_SYNTH_BENCH_VOICES voices (default 48), timed per clip.
TEST(Synth, DISABLED_Benchmark) {
  ScratchDir dir("synth_bench");
  SynthOptions o;
  o.root = dir / "bench";
  const char* env = std::getenv("CHORUS_SYNTH_BENCH_VOICES");
  o.num_voices = env ? std::atoi(env) : 48;
  int64_t clips = 0;
  const auto t0 = std::chrono::steady_clock::now();
  Status st = SynthesizeDataset(o, [&](int64_t done, int64_t) { clips = done; });
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::cout << "[ timing ] " << clips << " clips + " << o.noise_files << " x " << o.noise_seconds << " s noise in "
            << secs << " s: " << 1000.0 * secs / static_cast<double>(clips) << " ms per clip" << std::endl;
}

}  // namespace
}  // namespace chorus::data
