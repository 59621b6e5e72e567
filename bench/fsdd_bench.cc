// FSDD digit accuracy on a speaker the model never heard: trains
// jobs/kws/fsdd-digits.yaml (george, jackson, nicolas + synthetic digits;
// test on yweweler) and prints the test accuracy against the 90% goal,
// together with the same job trained without the synthetic digits.
//   fsdd_bench [--fsdd DIR] [--job FILE] [--no-ablation]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "bench/bench_util.h"
#include "common/config/job_spec.h"
#include "common/data/synth.h"
#include "common/util/allocator.h"
#include "common/util/logging.h"
#include "worker/train/trainer.h"

namespace {

namespace fs = std::filesystem;

struct Outcome {
  double accuracy = 0;
  int64_t count = 0;
  double seconds = 0;
};

chorus::Result<Outcome> Train(chorus::config::TrainJobSpec spec) {
  const auto t0 = std::chrono::steady_clock::now();
  chorus::train::TrainerOptions options;
  options.spec = std::move(spec);
  options.resume = false;
  options.log_every_steps = 100;
  ASSIGN_OR_RETURN(auto trainer, chorus::train::Trainer::Create(options));
  ASSIGN_OR_RETURN(chorus::train::TrainResult result, trainer->Run());
  if (!result.test) return chorus::Internal("the job has no test split");
  return Outcome{result.test->score, result.test->count,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"FSDD digit accuracy on an unseen speaker (goal: at least 90%)"};
  std::string fsdd = chorus::bench::SourcePath("../shared/data/fsdd");
  std::string job = chorus::bench::SourcePath("jobs/kws/fsdd-digits.yaml");
  bool no_ablation = false;
  app.add_option("--fsdd", fsdd, "FSDD folder (with recordings/)")->capture_default_str();
  app.add_option("--job", job, "training job")->capture_default_str();
  app.add_flag("--no-ablation", no_ablation, "skip the run without synthetic digits");
  CLI11_PARSE(app, argc, argv);
  chorus::InitLogging("warn");
  chorus::TuneAllocatorForTensors();

  if (!fs::exists(fsdd)) {
    std::printf("fsdd_bench: %s not found; nothing to measure\n", fsdd.c_str());
    return 0;
  }
  auto spec = chorus::config::LoadTrainJobSpec(job);
  if (!spec.ok()) {
    std::fprintf(stderr, "%s\n", spec.status().message().c_str());
    return 2;
  }
  spec->dataset.root = fsdd;
  spec->output.model_repository.clear();
  spec->output.dir = (fs::temp_directory_path() / ("chorus-fsdd-bench-" + std::to_string(::getpid()))).string();
  for (auto& extra : spec->dataset.extra_train) {
    // Job paths are relative to the repository root, wherever the bench runs from.
    if (fs::path(extra.root).is_relative()) extra.root = chorus::bench::SourcePath(extra.root);
    if (fs::exists(fs::path(extra.root) / "nine")) continue;
    chorus::data::SynthOptions synth;
    synth.root = extra.root;
    synth.words = chorus::data::DigitWords();
    synth.num_voices = 300;  // many voices beat many takes of few voices for an unseen speaker
    synth.takes_per_voice = 2;
    synth.seed = 7;
    std::printf("synthesizing digits into %s ...\n", synth.root.c_str());
    std::fflush(stdout);
    if (auto st = chorus::data::SynthesizeDataset(synth); !st.ok()) {
      std::fprintf(stderr, "%s\n", st.message().c_str());
      return 1;
    }
  }

  std::printf("training %s on %s (this takes a few minutes) ...\n", job.c_str(), fsdd.c_str());
  std::fflush(stdout);
  auto with_synth = Train(*spec);
  if (!with_synth.ok()) {
    std::fprintf(stderr, "%s\n", with_synth.status().ToString().c_str());
    return 1;
  }
  std::optional<Outcome> real_only;
  if (!no_ablation && !spec->dataset.extra_train.empty()) {
    auto plain = *spec;
    plain.dataset.extra_train.clear();
    plain.output.dir += "-real-only";
    auto r = Train(plain);
    if (r.ok()) real_only = *r;
  }
  std::error_code ec;
  fs::remove_all(spec->output.dir, ec);
  fs::remove_all(spec->output.dir + "-real-only", ec);

  std::printf("\nFSDD digits, train: george jackson nicolas, test: yweweler (never heard)\n");
  std::printf("%-40s %10s %8s %9s\n", "training data", "accuracy", "clips", "train s");
  std::printf("%-40s %10.4f %8lld %9.0f\n", "real + synthetic digits", with_synth->accuracy,
              static_cast<long long>(with_synth->count), with_synth->seconds);
  if (real_only)
    std::printf("%-40s %10.4f %8lld %9.0f\n", "real only", real_only->accuracy,
                static_cast<long long>(real_only->count), real_only->seconds);
  std::printf("goal: accuracy >= 0.90 -> %s\n", with_synth->accuracy >= 0.90 ? "met" : "NOT met");
  return 0;
}
