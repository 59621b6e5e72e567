#include "worker/train/trainer.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/data/synth.h"
#include "common/models/model_bundle.h"
#include "common/util/fs.h"
#include "worker/train/checkpoint.h"

namespace chorus::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Flips a stop flag once the trainer reports a given step.
class StopAtStep : public ProgressReporter {
 public:
  StopAtStep(int64_t step, std::atomic<bool>* flag) : step_(step), flag_(flag) {}
  void OnStep(const StepProgress& p) override {
    steps_.push_back(p.step);
    if (p.step >= step_) flag_->store(true);
  }
  void OnEvaluation(int64_t, const std::string&, const models::EvalReport&) override { ++evaluations_; }
  void OnCheckpoint(int64_t step, const std::string&) override { checkpoints_.push_back(step); }
  std::vector<int64_t> steps_, checkpoints_;
  int evaluations_ = 0;

 private:
  int64_t step_;
  std::atomic<bool>* flag_;
};

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("chorus_trainer_test_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    data::SynthOptions o;
    o.root = (root_ / "data").string();
    o.words = {"yes", "no", "up", "cat"};
    o.num_voices = 10;
    o.takes_per_voice = 1;
    o.noise_seconds = 2;
    ASSERT_TRUE(data::SynthesizeDataset(o).ok());
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  config::TrainJobSpec Spec(const std::string& run) {
    config::TrainJobSpec spec;
    spec.name = "t";
    spec.dataset.root = (root_ / "data").string();
    spec.dataset.words = {"yes", "no", "up"};
    spec.dataset.validation_percentage = 20;
    spec.dataset.testing_percentage = 20;
    spec.model.name = "tc_resnet";
    spec.model.width = 8;
    spec.model.dropout = 0.3;  // resume must restore the dropout RNG too
    spec.training.batch_size = 4;
    spec.training.max_steps = 12;
    spec.training.checkpoint_every_steps = 4;
    spec.training.eval_every_steps = 6;
    spec.training.threads = 1;
    spec.training.loader_threads = 2;
    spec.output.dir = (root_ / run).string();
    return spec;
  }

  static fs::path root_;
};
fs::path TrainerTest::root_;

TEST_F(TrainerTest, ResumedRunEqualsUninterruptedRun) {
  TrainerOptions straight;
  straight.spec = Spec("straight");
  straight.spec.output.model_repository = (root_ / "models").string();
  straight.log_every_steps = 1;
  auto a = Trainer::Create(straight);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto result_a = (*a)->Run();
  ASSERT_TRUE(result_a.ok()) << result_a.status().ToString();
  EXPECT_EQ(result_a->steps, 12);
  ASSERT_TRUE(result_a->test.has_value());
  EXPECT_GT(result_a->test->count, 0);

  // Interrupted at step 7 (mid-epoch, between checkpoints), then resumed by a
  // new trainer. The flag raised while step 6 is reported is agreed on (by all
  // ranks, in general) during step 7, which then checkpoints and stops.
  std::atomic<bool> stop{false};
  StopAtStep stopper(6, &stop);
  TrainerOptions first;
  first.spec = Spec("resumed");
  first.log_every_steps = 1;
  first.reporter = &stopper;
  first.stop_requested = &stop;
  auto b1 = Trainer::Create(first);
  ASSERT_TRUE(b1.ok());
  auto r1 = (*b1)->Run();
  ASSERT_TRUE(r1.ok());
  EXPECT_TRUE(r1->interrupted);
  EXPECT_EQ(r1->steps, 7);
  EXPECT_THAT(stopper.checkpoints_, ::testing::ElementsAre(4, 7));

  TrainerOptions second;
  second.spec = Spec("resumed");
  auto b2 = Trainer::Create(second);
  ASSERT_TRUE(b2.ok());
  auto r2 = (*b2)->Run();
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->steps, 12);
  EXPECT_EQ((*a)->FlatParameters(), (*b2)->FlatParameters());
  ASSERT_TRUE(r2->test.has_value());
  EXPECT_EQ(r2->test->accuracy, result_a->test->accuracy);

  // The straight run exported a loadable model with its labels and metrics.
  auto loaded = models::LoadModel(result_a->export_dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->metadata.labels, (std::vector<std::string>{"_silence_", "_unknown_", "yes", "no", "up"}));
  EXPECT_TRUE(loaded->metadata.metrics.contains("test_accuracy"));
  EXPECT_TRUE(fs::exists(fs::path(straight.spec.output.dir) / "eval.json"));
  EXPECT_TRUE(fs::exists(fs::path(straight.spec.output.dir) / "metrics.jsonl"));
}

TEST_F(TrainerTest, CheckpointsArePrunedAndLatestPointsAtTheNewest) {
  TrainerOptions o;
  o.spec = Spec("pruned");
  o.spec.training.keep_checkpoints = 2;
  auto t = Trainer::Create(o);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE((*t)->Run().ok());
  const fs::path dir = fs::path(o.spec.output.dir) / "checkpoints";
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"ckpt-12.pt", "ckpt-8.pt", "latest"}));
  CheckpointStore store(dir.string(), 2);
  EXPECT_EQ(fs::path(store.Latest().value().value()).filename(), "ckpt-12.pt");
}

TEST_F(TrainerTest, DamagedCheckpointIsAnErrorNotAFreshStart) {
  TrainerOptions o;
  o.spec = Spec("damaged");
  o.spec.training.max_steps = 4;
  ASSERT_TRUE(Trainer::Create(o).value()->Run().ok());
  const fs::path ckpt = fs::path(o.spec.output.dir) / "checkpoints" / "ckpt-4.pt";
  ASSERT_TRUE(AtomicWriteFile(ckpt.string(), "garbage").ok());
  auto t = Trainer::Create(o);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(t.status().message(), HasSubstr("ckpt-4.pt"));

  ASSERT_TRUE(AtomicWriteFile((fs::path(o.spec.output.dir) / "checkpoints" / "latest").string(), "ckpt-99.pt\n").ok());
  auto dangling = Trainer::Create(o);
  ASSERT_FALSE(dangling.ok());
  EXPECT_THAT(dangling.status().message(), HasSubstr("ckpt-99.pt"));
}

TEST_F(TrainerTest, BadDatasetsAreClearErrors) {
  TrainerOptions o;
  o.spec = Spec("bad");
  o.spec.dataset.root = (root_ / "missing").string();
  auto missing = Trainer::Create(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("missing"));

  o.spec = Spec("bad");
  o.spec.training.batch_size = 100000;
  auto too_big = Trainer::Create(o);
  ASSERT_FALSE(too_big.ok());
  EXPECT_THAT(too_big.status().message(), HasSubstr("larger than the training set"));

  // A corrupt audio file stops loading with its name instead of training on zeros.
  const fs::path bad_data = root_ / "bad_data";
  fs::remove_all(bad_data);
  fs::copy(root_ / "data", bad_data, fs::copy_options::recursive);
  fs::path victim;
  for (const auto& e : fs::directory_iterator(bad_data / "yes")) victim = e.path();
  ASSERT_TRUE(AtomicWriteFile(victim.string(), "RIFF....WAVEjunk").ok());
  o.spec = Spec("bad");
  o.spec.dataset.root = bad_data.string();
  auto corrupt = Trainer::Create(o);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_THAT(corrupt.status().message(), HasSubstr(victim.filename().string()));
}

}  // namespace
}  // namespace chorus::train
