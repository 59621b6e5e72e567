// chorus: the command users type.
//   chorus dataset synth --out DIR [...]   make a synthetic speech-commands set
//   chorus dataset vad-synth --out DIR [...]  make voice-activity recordings with their speech segments
//   chorus dataset speaker-synth --out DIR [...]  make utterances by speaker (espeak-ng voices, FSDD)
//   chorus demo                             synthesize a small set, train, report
//   chorus submit|list|status|watch|logs|cancel|retry   job control (job_commands.h)
//   chorus deploy|undeploy|models|workers|scale|infer|bench   serving (serve_commands.h)
//   chorus speaker enrol|verify|identify|list|delete   speaker registry (speaker_commands.h)
//   chorus eval MODEL_DIR|JOB_ID [--data SPEC]   evaluate a model (eval_commands.h)
//   chorus token create|list|revoke         credentials with roles (token_commands.h)
// Exit codes: 0 success, 1 the command (or watched job) failed, 2 bad usage;
// job commands add 3-7 (see job_commands.h).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/data/speaker_synth.h"
#include "common/data/synth.h"
#include "common/data/vad_synth.h"
#include "coordinator/cli/eval_commands.h"
#include "coordinator/cli/job_commands.h"
#include "coordinator/cli/serve_commands.h"
#include "coordinator/cli/speaker_commands.h"
#include "coordinator/cli/stream_command.h"
#include "coordinator/cli/token_commands.h"
#include "common/util/logging.h"

namespace {

namespace fs = std::filesystem;

// Prints "VERB done/total UNIT (percent%)" on stderr at every 5%.
std::function<void(int64_t, int64_t)> ProgressLine(const char* verb, const char* unit) {
  auto last_percent = std::make_shared<int>(-1);
  return [=](int64_t done, int64_t total) {
    const int percent = static_cast<int>(100 * done / std::max<int64_t>(1, total));
    if (percent != *last_percent && (percent % 5 == 0 || done == total)) {
      *last_percent = percent;
      std::fprintf(stderr, "\r%s %lld/%lld %s (%d%%)", verb, static_cast<long long>(done),
                   static_cast<long long>(total), unit, percent);
      if (done == total) std::fprintf(stderr, "\n");
    }
  };
}

// Runs a dataset maker with a progress line; prints where it wrote and how long it took.
int MakeDataset(const char* command, const std::string& out, const std::string& what,
                const std::function<chorus::Status()>& make) {
  const auto start = std::chrono::steady_clock::now();
  chorus::Status st = make();
  if (!st.ok()) {
    std::cerr << "\nchorus dataset " << command << ": " << st.message() << std::endl;
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s%s in %.1f s\n", out.c_str(), what.c_str(), seconds);
  return 0;
}

int RunSynth(const chorus::data::SynthOptions& options) {
  return MakeDataset("synth", options.root, "", [&] {
    return chorus::data::SynthesizeDataset(options, ProgressLine("synthesizing", "clips"));
  });
}

int RunVadSynth(const chorus::data::VadSynthOptions& options) {
  return MakeDataset("vad-synth", options.out, " (recordings/, segments.csv, conditions.csv)", [&] {
    return chorus::data::MakeVadDataset(options, ProgressLine("making", "recordings"));
  });
}

int RunSpeakerSynth(const chorus::data::SpeakerSynthOptions& options) {
  return MakeDataset("speaker-synth", options.out, " (train/, test/: speaker/session/utterance.wav)", [&] {
    return chorus::data::MakeSpeakerDataset(options, ProgressLine("making", "utterances"));
  });
}

// The directory that holds this executable (chorus-worker lives beside it).
fs::path SelfDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

int RunDemo(const std::string& job, const std::string& data_dir, int voices, int takes, bool fresh) {
  if (fresh || !fs::exists(fs::path(data_dir) / "_background_noise_")) {
    chorus::data::SynthOptions options;
    options.root = data_dir;
    options.num_voices = voices;
    options.takes_per_voice = takes;
    std::printf("step 1/2: synthesizing a speech-commands dataset with espeak-ng (%d voices x %d takes) into %s\n", voices, takes,
                data_dir.c_str());
    std::fflush(stdout);
    if (int rc = RunSynth(options); rc != 0) return rc;
  } else {
    std::printf("step 1/2: using the dataset already in %s (--fresh makes it again)\n", data_dir.c_str());
  }
  std::printf("step 2/2: training %s (progress below; the test accuracy is printed at the end)\n", job.c_str());
  std::fflush(stdout);
  const std::string worker = (SelfDir() / "chorus-worker").string();
  std::vector<std::string> args = {worker, "train", job};
  if (fresh) args.push_back("--no-resume");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(worker.c_str(), argv.data());
  std::perror(("chorus demo: cannot start " + worker).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chorus: train and serve sound models"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn or error")->capture_default_str();

  CLI::App* dataset = app.add_subcommand("dataset", "Make and inspect datasets");
  dataset->require_subcommand(1);
  CLI::App* synth = dataset->add_subcommand(
      "synth", "Synthesize a speech-commands dataset (GSC layout) with espeak-ng: 10 command words, digits and "
               "other words spoken by many voices, plus background noise");
  chorus::data::SynthOptions synth_options;
  synth->add_option("--out", synth_options.root, "output folder")->required();
  synth->add_option("--voices", synth_options.num_voices, "number of voices (speakers)")->capture_default_str();
  synth->add_option("--takes", synth_options.takes_per_voice, "clips per word and voice")->capture_default_str();
  synth->add_option("--sample-rate", synth_options.sample_rate, "Hz")->capture_default_str();
  synth->add_option("--seed", synth_options.seed, "same seed, same files")->capture_default_str();
  synth->add_option("--words", synth_options.words, "words to speak (default: commands, digits, others)");

  CLI::App* vad_synth = dataset->add_subcommand(
      "vad-synth", "Make voice-activity recordings: espeak-ng words (and FSDD clips) with random pauses over generated "
                   "noises (white, pink, brown, hum, tones, clicks) at random SNRs, with their speech segments "
                   "(segments.csv, the layout of dataset kind: segments)");
  chorus::data::VadSynthOptions vad_options;
  vad_synth->add_option("--out", vad_options.out, "output folder")->required();
  vad_synth->add_option("--recordings", vad_options.recordings, "how many")->capture_default_str();
  vad_synth->add_option("--min-seconds", vad_options.min_seconds, "shortest recording")->capture_default_str();
  vad_synth->add_option("--max-seconds", vad_options.max_seconds, "longest recording")->capture_default_str();
  vad_synth->add_option("--voices", vad_options.voices, "espeak-ng voices (0: FSDD only)")->capture_default_str();
  vad_synth->add_option("--fsdd", vad_options.fsdd_root, "FSDD folder: also use its clips (default: none)");
  vad_synth->add_option("--fsdd-speakers", vad_options.fsdd_speakers,
                        "FSDD speakers to take (never yweweler, the unseen test speaker)")
      ->capture_default_str();
  vad_synth->add_option("--fsdd-fraction", vad_options.fsdd_fraction, "share of words from FSDD")
      ->capture_default_str();
  vad_synth->add_option("--snr-min", vad_options.snr_min_db, "lowest SNR (dB)")->capture_default_str();
  vad_synth->add_option("--snr-max", vad_options.snr_max_db, "highest SNR (dB)")->capture_default_str();
  vad_synth->add_option("--snrs", vad_options.snrs_db, "fixed SNRs (dB), recording i gets SNR i % n");
  vad_synth->add_option("--noises", vad_options.noises, "noise kinds to use (default: all)");
  vad_synth->add_option("--seed", vad_options.seed, "same seed, same files")->capture_default_str();

  CLI::App* speaker_synth = dataset->add_subcommand(
      "speaker-synth", "Make speaker-recognition material in the VoxCeleb layout (speaker/session/utterance.wav): "
                       "espeak-ng voices as speakers, and FSDD speakers (train/: george, jackson, nicolas; test/: "
                       "their held-out recordings and the unseen yweweler)");
  chorus::data::SpeakerSynthOptions speaker_options;
  speaker_synth->add_option("--out", speaker_options.out, "output folder")->required();
  speaker_synth->add_option("--voices", speaker_options.voices, "synthetic speakers")->capture_default_str();
  speaker_synth->add_option("--utterances", speaker_options.utterances, "utterances per synthetic speaker")
      ->capture_default_str();
  speaker_synth->add_option("--words", speaker_options.words, "words to speak (default: commands, digits, others)");
  speaker_synth->add_option("--fsdd", speaker_options.fsdd_root, "FSDD folder: add its speakers (default: none)");
  speaker_synth->add_option("--fsdd-train", speaker_options.fsdd_train_speakers, "FSDD speakers to train on")
      ->capture_default_str();
  speaker_synth->add_option("--fsdd-test", speaker_options.fsdd_test_speakers,
                            "unseen FSDD speakers (test/ only, never train/)")
      ->capture_default_str();
  speaker_synth->add_option("--fsdd-holdout", speaker_options.fsdd_holdout,
                            "FSDD recordings with a lower index are test material only")
      ->capture_default_str();
  speaker_synth->add_option("--fsdd-speeds", speaker_options.fsdd_speeds,
                            "also the FSDD training speakers at these speeds, as new speakers (e.g. 0.9 1.1)");
  speaker_synth->add_option("--sample-rate", speaker_options.sample_rate, "Hz")->capture_default_str();
  speaker_synth->add_option("--seed", speaker_options.seed, "same seed, same files")->capture_default_str();

  CLI::App* demo = app.add_subcommand("demo", "Synthesize a small dataset, train a keyword spotter on it and "
                                              "print its accuracy on voices it never heard");
  std::string demo_job = "jobs/kws/synth-demo.yaml";
  std::string demo_data = "data/synth-kws";
  int demo_voices = 120;
  int demo_takes = 4;
  bool demo_fresh = false;
  demo->add_option("--job", demo_job, "training job to run")->capture_default_str();
  demo->add_option("--data", demo_data, "where the dataset goes (must match the job's dataset.root)")
      ->capture_default_str();
  demo->add_option("--voices", demo_voices, "voices to synthesize")->capture_default_str();
  demo->add_option("--takes", demo_takes, "clips per word and voice")->capture_default_str();
  demo->add_flag("--fresh", demo_fresh, "make the dataset again and train from scratch");

  chorus::cli::JobCommands jobs;
  jobs.Register(app);
  chorus::cli::ServeCommands serving(jobs.connect());
  serving.Register(app);
  chorus::cli::StreamCommand stream(jobs.connect());
  stream.Register(app);
  chorus::cli::SpeakerCommands speakers(jobs.connect());
  speakers.Register(app);
  chorus::cli::EvalCommands evaluation(jobs.connect());
  evaluation.Register(app);
  chorus::cli::TokenCommands tokens(jobs.connect());
  tokens.Register(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  chorus::InitLogging(log_level);
  if (synth->parsed()) {
    chorus::Status valid = chorus::data::ValidateSynthOptions(synth_options);
    if (!valid.ok()) {
      std::cerr << "chorus dataset synth: " << valid.message() << std::endl;
      return 2;
    }
    return RunSynth(synth_options);
  }
  if (vad_synth->parsed()) {
    chorus::Status valid = chorus::data::ValidateVadSynthOptions(vad_options);
    if (!valid.ok()) {
      std::cerr << "chorus dataset vad-synth: " << valid.message() << std::endl;
      return 2;
    }
    return RunVadSynth(vad_options);
  }
  if (speaker_synth->parsed()) {
    chorus::Status valid = chorus::data::ValidateSpeakerSynthOptions(speaker_options);
    if (!valid.ok()) {
      std::cerr << "chorus dataset speaker-synth: " << valid.message() << std::endl;
      return 2;
    }
    return RunSpeakerSynth(speaker_options);
  }
  if (std::optional<int> rc = jobs.Run()) return *rc;
  if (std::optional<int> rc = serving.Run()) return *rc;
  if (std::optional<int> rc = stream.Run()) return *rc;
  if (std::optional<int> rc = speakers.Run()) return *rc;
  if (std::optional<int> rc = evaluation.Run()) return *rc;
  if (std::optional<int> rc = tokens.Run()) return *rc;
  if (demo->parsed()) return RunDemo(demo_job, demo_data, demo_voices, demo_takes, demo_fresh);
  return 2;
}
