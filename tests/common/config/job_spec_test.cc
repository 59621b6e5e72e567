#include "common/config/job_spec.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace chorus::config {
namespace {

using ::testing::HasSubstr;

const char* kMinimal = R"(name: kws
dataset:
  root: data/x
  words: [yes, no]
)";

TEST(JobSpec, MinimalSpecGetsDefaults) {
  auto spec = ParseTrainJobSpec(kMinimal, "kws.yaml", "/base");
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_EQ(spec->name, "kws");
  EXPECT_EQ(spec->dataset.root, "/base/data/x");
  EXPECT_EQ(spec->dataset.kind, "speech_commands");
  EXPECT_EQ(spec->model.name, "ds_cnn");
  EXPECT_EQ(spec->features.n_mels, 40);
  EXPECT_EQ(spec->output.dir, "runs/kws");
  EXPECT_EQ(spec->output.model_name, "kws");
}

TEST(JobSpec, EveryShippedJobFileIsValid) {
  const char* src = std::getenv("CHORUS_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  int count = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(std::string(src) + "/jobs")) {
    if (entry.path().extension() != ".yaml") continue;
    auto spec = LoadTrainJobSpec(entry.path().string());
    EXPECT_TRUE(spec.ok()) << entry.path() << ": " << spec.status().ToString();
    ++count;
  }
  EXPECT_GE(count, 2);
}

TEST(JobSpec, RejectsBadValuesWithLocation) {
  const std::string text = std::string(kMinimal) +
                           "model:\n  name: transformer\n"
                           "optimizer:\n  kind: adam\n  lr: -1\n"
                           "training:\n  batch_size: 0\n  epoch: 3\n  mixup_alpha: -1\n"
                           "features:\n  kind: spectrogram\n";
  auto spec = ParseTrainJobSpec(text, "bad.yaml");
  ASSERT_FALSE(spec.ok());
  const std::string& m = spec.status().message();
  EXPECT_THAT(m, HasSubstr("bad.yaml:6:9: model.name: must be one of vgg, ds_cnn, tc_resnet, crnn"));
  EXPECT_THAT(m, HasSubstr("optimizer.lr: must be in (0, 10)"));
  EXPECT_THAT(m, HasSubstr("training.batch_size: must be in [1, 65536]"));
  EXPECT_THAT(m, HasSubstr("training.mixup_alpha: must be in [0, 10] (0: no mixup)"));
  EXPECT_THAT(m, HasSubstr("bad.yaml:12:3: training.epoch: unknown key"));
  EXPECT_THAT(m, HasSubstr("features.kind"));
}

TEST(JobSpec, FeatureRangesAreValidated) {
  auto spec = ParseTrainJobSpec(std::string(kMinimal) + "features:\n  sample_rate: 8000\n  f_max: 7000\n", "f.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_THAT(spec.status().message(), HasSubstr("f.yaml"));
}

TEST(JobSpec, FsddNeedsSpeakersAndExtraSourcesNeedALabelMap) {
  auto spec = ParseTrainJobSpec("name: d\ndataset:\n  kind: fsdd\n  root: r\n  extra_train:\n    - root: s\n",
                                "d.yaml");
  ASSERT_FALSE(spec.ok());
  const std::string& m = spec.status().message();
  EXPECT_THAT(m, HasSubstr("dataset.train_speakers"));
  EXPECT_THAT(m, HasSubstr("dataset.test_speakers"));
  EXPECT_THAT(m, HasSubstr("dataset.extra_train[0].label_map: required key is missing"));
}

TEST(JobSpec, TasksAndTheirDatasetsAndDevicesAreChecked) {
  auto detect = ParseTrainJobSpec(
      "name: v\ntask: detect\ndataset:\n  kind: segments\n  root: r\n  crop_seconds: 3\nmodel:\n  name: vad_crnn\n"
      "training:\n  device: cuda:1\n  precision: bf16\n  deterministic: true\n",
      "v.yaml");
  ASSERT_TRUE(detect.ok()) << detect.status().ToString();
  EXPECT_EQ(detect->task, "detect");
  EXPECT_EQ(detect->dataset.crop_seconds, 3);
  EXPECT_EQ(detect->training.device, "cuda:1");
  EXPECT_EQ(detect->training.precision, "bf16");
  EXPECT_TRUE(detect->training.deterministic);
  auto wrong_data = ParseTrainJobSpec(std::string("task: detect\n") + kMinimal, "w.yaml");
  ASSERT_FALSE(wrong_data.ok());
  EXPECT_THAT(wrong_data.status().message(), HasSubstr("task: detect needs a dataset of recordings"));
  auto wrong_task = ParseTrainJobSpec("name: v\ndataset:\n  kind: segments\n  root: r\n", "t.yaml");
  ASSERT_FALSE(wrong_task.ok());
  EXPECT_THAT(wrong_task.status().message(), HasSubstr("not for task classify"));
  auto unknown = ParseTrainJobSpec(std::string("task: translate\n") + kMinimal, "u.yaml");
  EXPECT_THAT(unknown.status().message(), HasSubstr("must be classify, detect or embed"));
  auto device = ParseTrainJobSpec(std::string(kMinimal) + "training:\n  device: gpu\n  precision: fp16\n", "d.yaml");
  EXPECT_THAT(device.status().message(), HasSubstr("training.device: must be cpu, cuda or cuda:N; got 'gpu'"));
  EXPECT_THAT(device.status().message(), HasSubstr("training.precision: must be fp32 or bf16; got 'fp16'"));
}

TEST(JobSpec, MissingFileIsNotFound) {
  auto spec = LoadTrainJobSpec("/no/such/job.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), StatusCode::kNotFound);
}

// `chorus eval --data`: inline mappings, dataset files and job files.
TEST(DatasetSpecArgument, InlineFileAndJobFile) {
  auto inline_spec = DatasetSpecFromArgument("{kind: fsdd, root: data/fsdd, train_speakers: [george], "
                                             "test_speakers: [yweweler]}");
  ASSERT_TRUE(inline_spec.ok()) << inline_spec.status().ToString();
  EXPECT_EQ(inline_spec->kind, "fsdd");
  EXPECT_EQ(inline_spec->root, "data/fsdd");
  EXPECT_EQ(inline_spec->test_speakers, std::vector<std::string>{"yweweler"});

  const auto dir = std::filesystem::temp_directory_path() / ("dataset_arg_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "data.yaml") << "kind: speech_commands\nroot: data/sc\nwords: [yes]\n";
  std::ofstream(dir / "job.yaml") << kMinimal;
  auto file = DatasetSpecFromArgument((dir / "data.yaml").string());
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  EXPECT_EQ(file->words, std::vector<std::string>{"yes"});
  TrainJobSpec job;
  auto from_job = DatasetSpecFromArgument((dir / "job.yaml").string(), &job);
  ASSERT_TRUE(from_job.ok()) << from_job.status().ToString();
  EXPECT_EQ(from_job->root, "data/x");
  EXPECT_EQ(job.name, "kws");
  std::filesystem::remove_all(dir);
}

TEST(DatasetSpecArgument, ErrorsNameTheProblem) {
  auto missing = DatasetSpecFromArgument("/no/such/data.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("/no/such/data.yaml"));
  auto unknown = DatasetSpecFromArgument("{kind: fsdd, root: x, trian_speakers: [a], test_speakers: [b]}");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("trian_speakers"));
  auto kind = DatasetSpecFromArgument("{kind: mp3s, root: x}");
  ASSERT_FALSE(kind.ok());
  EXPECT_THAT(kind.status().message(), HasSubstr("mp3s"));
  EXPECT_FALSE(DatasetSpecFromArgument("{kind: fsdd").ok());  // not YAML
}

}  // namespace
}  // namespace chorus::config
