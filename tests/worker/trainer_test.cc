#include "worker/train/trainer.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/models/device.h"
#include "common/models/model_bundle.h"
#include "common/util/fs.h"
#include "tests/worker/train_test_util.h"
#include "worker/train/checkpoint.h"

namespace chorus::train {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = TestRoot("chorus_trainer_test");
    std::filesystem::remove_all(root_);
    MakeSynthDataset(root_, {"yes", "no", "up", "cat"}, 10, 1);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  config::TrainJobSpec Spec(const std::string& run) { return SmallSpec(root_, run); }
  // 24 steps without dropout, the loss reported every 6 to `reporter`.
  TrainerOptions ShortRun(const std::string& run, RecordingReporter* reporter) {
    TrainerOptions o;
    o.spec = Spec(run);
    o.spec.model.dropout = 0;
    o.spec.training.max_steps = 24;
    o.log_every_steps = 6;
    o.reporter = reporter;
    return o;
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
  RecordingReporter stopper(6, &stop);
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
  EXPECT_EQ(r2->test->score, result_a->test->score);
  EXPECT_EQ(r2->test->score_name, "accuracy");

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

// bfloat16 autocast runs on the CPU too (LibTorch's CPU autocast), so the
// precision switch is exercised where CI runs; tests/worker/cuda_test.cc
// checks it on a GPU.
TEST_F(TrainerTest, Bf16TrainsAndLowersTheLoss) {
  RecordingReporter reporter;
  const std::vector<double>& losses = reporter.losses_;
  TrainerOptions o = ShortRun("bf16", &reporter);
  o.spec.training.precision = "bf16";
  auto t = Trainer::Create(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto r = (*t)->Run();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(losses.size(), 4u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(losses.back(), losses.front());
  // The weights stay float32 and differ from an fp32 run of the same job.
  TrainerOptions fp32 = o;
  fp32.spec.training.precision = "fp32";
  fp32.spec.output.dir += "-fp32";
  fp32.reporter = nullptr;
  auto t32 = Trainer::Create(fp32);
  ASSERT_TRUE(t32.ok());
  ASSERT_TRUE((*t32)->Run().ok());
  EXPECT_NE((*t)->FlatParameters(), (*t32)->FlatParameters());
}

TEST_F(TrainerTest, MixupTrainsOnMixedBatchesTheSameWayEveryRun) {
  RecordingReporter reporter;
  const std::vector<double>& losses = reporter.losses_;
  TrainerOptions o = ShortRun("mixup", &reporter);
  o.spec.training.mixup_alpha = 0.4;
  auto t = Trainer::Create(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_TRUE((*t)->Run().ok());
  ASSERT_EQ(losses.size(), 4u);
  for (double l : losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_LT(losses.back(), losses.front());
  // The same run again mixes the same way; without mixup it trains otherwise.
  TrainerOptions again = o, plain = o;
  again.spec.output.dir += "-again";
  again.reporter = nullptr;
  plain.spec.output.dir += "-plain";
  plain.spec.training.mixup_alpha = 0;
  plain.reporter = nullptr;
  auto ta = Trainer::Create(again), tp = Trainer::Create(plain);
  ASSERT_TRUE(ta.ok() && tp.ok());
  ASSERT_TRUE((*ta)->Run().ok());
  ASSERT_TRUE((*tp)->Run().ok());
  EXPECT_EQ((*t)->FlatParameters(), (*ta)->FlatParameters());
  EXPECT_NE((*t)->FlatParameters(), (*tp)->FlatParameters());
}

TEST_F(TrainerTest, DevicesAreCheckedBeforeAnyWork) {
  TrainerOptions o;
  o.spec = Spec("device");
  o.spec.training.device = "cuda:7";
  auto t = Trainer::Create(o);
  ASSERT_FALSE(t.ok());
  if (models::CudaDeviceCount() == 0) {
    EXPECT_EQ(t.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(t.status().message(), HasSubstr("no CUDA GPU is usable"));
  } else {
    EXPECT_THAT(t.status().message(), HasSubstr("this process sees"));
  }
  EXPECT_FALSE(fs::exists(o.spec.output.dir));
}

}  // namespace
}  // namespace chorus::train
