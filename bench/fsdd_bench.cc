// FSDD digit accuracy on a speaker the model never heard: trains
// jobs/kws/fsdd-digits.yaml (george, jackson, nicolas + synthetic digits;
// test on yweweler) and prints the test accuracy against the 90% goal,
// together with the same job trained without the synthetic digits. With
// --ensemble K it instead trains K members (seeds 1..K), evaluates each exported
// member on yweweler and the ensemble of them (the mean of their class
// probabilities: what an `ensemble:` graph serves), with its cost over one.
// With --members DIR,DIR it scores models already exported the same way;
// --tta 0.9,1,1.1 adds each score with speed test-time augmentation,
// --tta-shifts-ms -80,0,80 with the word moved in its window (or both).
// Where the job holds speakers out for validation (jobs/kws/fsdd-digits-
// validate.yaml: nicolas), members and ensembles are scored on them too:
// that is where recipes are chosen; the test speaker is only reported.
//   fsdd_bench [--fsdd DIR] [--job FILE] [--no-ablation] [--ensemble K | --members DIRS] [--tta SPEEDS] [--tta-shifts-ms MS]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <CLI/CLI.hpp>

#include "bench/bench_util.h"
#include "common/audio/wav_io.h"
#include "common/audio/waveform.h"
#include "common/config/job_spec.h"
#include "common/data/synth.h"
#include "common/util/allocator.h"
#include "common/tasks/outputs.h"
#include "common/util/logging.h"
#include "worker/serve/served_model.h"
#include "worker/train/model_eval.h"
#include "worker/train/trainer.h"

namespace {

namespace fs = std::filesystem;

struct Outcome {
  double accuracy = 0;
  int64_t count = 0;
  double seconds = 0;
  std::string export_dir;
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
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), result.export_dir};
}

// Test-time augmentation: every clip is scored at each speed (the clip played
// f times as fast: its samples declared at f times their rate, the front end
// resamples: a voice faster or slower, higher or lower than those trained
// on) and each time shift (the word moved by s ms in its window), and the
// class probabilities are averaged over all of them.
struct Tta {
  std::vector<double> speeds;     // empty: none
  std::vector<double> shifts_ms;  // empty: {0}
  bool enabled() const { return !speeds.empty() || !shifts_ms.empty(); }
  std::vector<double> speeds_or_1() const { return speeds.empty() ? std::vector<double>{1.0} : speeds; }
  std::vector<double> shifts_or_0() const { return shifts_ms.empty() ? std::vector<double>{0.0} : shifts_ms; }
  size_t passes() const { return speeds_or_1().size() * shifts_or_0().size(); }
  std::string ToString() const {
    std::string out;
    for (double f : speeds_or_1()) out += (out.empty() ? "speeds " : ", ") + std::to_string(f).substr(0, 4);
    std::string shifts;
    for (double ms : shifts_or_0()) shifts += (shifts.empty() ? "; shifts " : ", ") + std::to_string(std::lround(ms));
    return out + shifts + " ms";
  }
};

// `samples` fitted to `length` as the served model fits a clip (centred),
// then moved `shift` samples later (earlier when negative), zeros filling in.
std::vector<float> Shifted(const std::vector<float>& samples, int64_t length, int64_t shift) {
  const std::vector<float> fit = chorus::audio::FitToLength(samples, length);
  std::vector<float> out(static_cast<size_t>(length), 0.0f);
  for (int64_t i = 0; i < length; ++i)
    if (i - shift >= 0 && i - shift < length) out[static_cast<size_t>(i)] = fit[static_cast<size_t>(i - shift)];
  return out;
}

// Each example's class probabilities (the model's label order) from the
// served model, averaged over the test-time augmentations of `tta`.
chorus::Result<std::vector<std::vector<double>>> TtaScores(const std::string& dir,
                                                           const std::vector<chorus::data::Example>& examples,
                                                           const Tta& tta) {
  ASSIGN_OR_RETURN(auto model, chorus::serve::ServedModel::Load(dir));
  const auto& labels = model->info().labels();
  const size_t passes = tta.passes();
  std::vector<std::vector<double>> out(examples.size(), std::vector<double>(labels.size(), 0.0));
  for (size_t i = 0; i < examples.size(); ++i) {
    ASSIGN_OR_RETURN(chorus::audio::Waveform w, chorus::audio::ReadAudio(examples[i].path));
    std::vector<chorus::proto::InferRequest> requests(passes);
    std::vector<at::Tensor> inputs;
    std::vector<const chorus::proto::InferRequest*> in;
    std::vector<chorus::proto::InferReply> replies(passes);
    std::vector<chorus::proto::InferReply*> out_replies;
    size_t k = 0;
    for (double f : tta.speeds_or_1())
      for (double ms : tta.shifts_or_0()) {
        chorus::proto::InferRequest& r = requests[k++];
        const int rate = static_cast<int>(std::lround(w.sample_rate * f));
        r.set_top_k(labels.size());
        r.mutable_pcm()->set_sample_rate(rate);
        const std::vector<float> samples =
            ms == 0 ? w.samples
                    : Shifted(w.samples, std::llround(model->info().clip_seconds() * rate), std::llround(ms * 1e-3 * rate));
        r.mutable_pcm()->mutable_samples()->Add(samples.begin(), samples.end());
        ASSIGN_OR_RETURN(at::Tensor x, model->Prepare(r));
        inputs.push_back(std::move(x));
        in.push_back(&r);
        out_replies.push_back(&replies[k - 1]);
      }
    RETURN_IF_ERROR(model->Predict(inputs, in, out_replies));
    for (const auto& reply : replies) {
      const auto* names = chorus::tasks::FindOutput(reply, "labels");
      const auto* scores = chorus::tasks::FindOutput(reply, "scores");
      if (!names || !scores) return chorus::Internal(dir + " gave no labels and scores");
      for (int c = 0; c < names->bytes_size(); ++c) {
        const auto label = std::find(labels.begin(), labels.end(), names->bytes(c)) - labels.begin();
        out[i][static_cast<size_t>(label)] += scores->fp32(c) / passes;
      }
    }
  }
  return out;
}

double Accuracy(const std::vector<std::vector<double>>& probabilities, const std::vector<chorus::data::Example>& examples) {
  int64_t right = 0;
  for (size_t i = 0; i < examples.size(); ++i)
    right += std::max_element(probabilities[i].begin(), probabilities[i].end()) - probabilities[i].begin() ==
             examples[i].label;
  return examples.empty() ? 0 : static_cast<double>(right) / static_cast<double>(examples.size());
}

// Scores exported members on one split of the job's dataset and their
// ensemble (the mean of their class probabilities); prints one row each,
// and with speed factors the same with test-time augmentation.
// Returns false on an error (printed).
bool ScoreEnsemble(const std::vector<std::string>& dirs, const chorus::config::DatasetSpec& dataset,
                   const std::string& split, const std::string& speakers, const Tta& tta) {
  std::vector<chorus::train::ModelEvalResult> members;
  for (const auto& dir : dirs) {
    chorus::train::ModelEvalOptions eval;
    eval.model_dir = dir;
    eval.dataset = dataset;
    eval.split = split;
    auto result = chorus::train::EvaluateModel(eval);
    if (!result.ok()) {
      std::fprintf(stderr, "%s: %s\n", dir.c_str(), result.status().ToString().c_str());
      return false;
    }
    members.push_back(std::move(*result));
  }
  const auto& first = members.front();
  const size_t n = first.report.example_scores.size();
  std::vector<std::vector<double>> mean(n, std::vector<double>(first.labels.size(), 0.0));
  std::printf("\nensemble of %zu, %s: %s\n", members.size(), split.c_str(), speakers.c_str());
  std::printf("%-40s %10s %8s %9s\n", "model", "accuracy", "clips", "eval s");
  double total_eval = 0;
  for (size_t m = 0; m < members.size(); ++m) {
    const auto& r = members[m];
    if (r.report.example_scores.size() != n || r.labels != first.labels) {
      std::fprintf(stderr, "%s was evaluated on other clips or labels\n", dirs[m].c_str());
      return false;
    }
    for (size_t i = 0; i < n; ++i)
      for (size_t c = 0; c < mean[i].size(); ++c) mean[i][c] += r.report.example_scores[i][c] / members.size();
    std::printf("%-40s %10.4f %8zu %9.2f\n", ("member " + std::to_string(m + 1)).c_str(), r.report.score, n,
                r.seconds);
    total_eval += r.seconds;
  }
  int64_t right = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto best = std::max_element(mean[i].begin(), mean[i].end()) - mean[i].begin();
    right += best == first.examples[i].label;
  }
  std::printf("%-40s %10.4f %8zu %9.2f\n", "ensemble (mean of probabilities)", static_cast<double>(right) / n, n,
              total_eval);
  std::printf("the ensemble's cost: %zu forward passes per clip, %.1fx one member's evaluation time\n",
              members.size(), total_eval / first.seconds);
  if (!tta.enabled()) return true;
  std::printf("with test-time augmentation (%s; %zu forward passes per clip and member):\n", tta.ToString().c_str(),
              tta.passes());
  std::vector<std::vector<double>> ensemble(n, std::vector<double>(first.labels.size(), 0.0));
  for (size_t m = 0; m < dirs.size(); ++m) {
    auto p = TtaScores(dirs[m], first.examples, tta);
    if (!p.ok()) {
      std::fprintf(stderr, "%s\n", p.status().ToString().c_str());
      return false;
    }
    for (size_t i = 0; i < n; ++i)
      for (size_t c = 0; c < ensemble[i].size(); ++c) ensemble[i][c] += (*p)[i][c] / dirs.size();
    std::printf("%-40s %10.4f %8zu\n", ("member " + std::to_string(m + 1) + " + TTA").c_str(),
                Accuracy(*p, first.examples), n);
  }
  if (dirs.size() > 1)
    std::printf("%-40s %10.4f %8zu\n", "ensemble + TTA", Accuracy(ensemble, first.examples), n);
  return true;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

// Scores the members on the job's validation speakers (when it has some:
// where recipes are chosen) and on its test speakers.
bool ScoreMembers(const std::vector<std::string>& dirs, const chorus::config::TrainJobSpec& spec, const Tta& tta) {
  if (!spec.dataset.validation_speakers.empty() &&
      !ScoreEnsemble(dirs, spec.dataset, "validation", Join(spec.dataset.validation_speakers) + " (never trained on)",
                     tta))
    return false;
  return ScoreEnsemble(dirs, spec.dataset, "test", Join(spec.dataset.test_speakers) + " (never heard)", tta);
}

// Trains `k` members of the job (seeds 1..k) and scores them and their ensemble.
bool Ensemble(chorus::config::TrainJobSpec spec, int k, const Tta& tta) {
  std::vector<std::string> dirs;
  spec.output.model_repository = spec.output.dir + "-ensemble-models";
  for (int seed = 1; seed <= k; ++seed) {
    auto member = spec;
    member.training.seed = static_cast<uint64_t>(seed);
    member.output.dir = spec.output.dir + "-seed" + std::to_string(seed);
    member.output.model_name = "member" + std::to_string(seed);
    std::printf("training ensemble member %d of %d ...\n", seed, k);
    std::fflush(stdout);
    auto trained = Train(member);
    if (!trained.ok() || trained->export_dir.empty()) {
      std::fprintf(stderr, "member %d: %s\n", seed, trained.ok() ? "not exported" : trained.status().ToString().c_str());
      return false;
    }
    dirs.push_back(trained->export_dir);
  }
  const bool ok = ScoreMembers(dirs, spec, tta);
  std::error_code ec;
  for (int seed = 1; seed <= k; ++seed) fs::remove_all(spec.output.dir + "-seed" + std::to_string(seed), ec);
  fs::remove_all(spec.output.model_repository, ec);
  return ok;
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
  int ensemble = 0;
  app.add_option("--ensemble", ensemble, "instead train this many members (seeds 1..K) and score their ensemble")
      ->check(CLI::Range(0, 16));
  std::vector<std::string> members;
  app.add_option("--members", members, "instead score these exported models (version folders) and their ensemble "
                                       "on the job's validation and test speakers, without training")
      ->delimiter(',');
  Tta tta;
  app.add_option("--tta", tta.speeds, "with --ensemble or --members: also score with test-time augmentation at these "
                                      "speeds, e.g. 0.9,1,1.1")
      ->delimiter(',');
  app.add_option("--tta-shifts-ms", tta.shifts_ms, "with --ensemble or --members: also score with the word moved by "
                                                   "these times in its window, e.g. -80,0,80 (with --tta: each speed "
                                                   "at each shift)")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  for (double f : tta.speeds)
    if (!(f >= 0.5 && f <= 2)) {
      std::fprintf(stderr, "--tta: speed %g is outside [0.5, 2]\n", f);
      return 2;
    }
  for (double ms : tta.shifts_ms)
    if (!(std::abs(ms) <= 500)) {
      std::fprintf(stderr, "--tta-shifts-ms: shift %g ms is outside [-500, 500]\n", ms);
      return 2;
    }
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

  if (!members.empty()) return ScoreMembers(members, *spec, tta) ? 0 : 1;
  if (ensemble >= 2) return Ensemble(*spec, ensemble, tta) ? 0 : 1;  // member 1 is the job as it is (seed 1)
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
