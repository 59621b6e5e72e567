// Shared by the trainer tests: a synthetic speech-commands set made once per
// test binary, and the small job the tests train on it (TC-ResNet width 8,
// batch 4, 12 steps, checkpoints every 4, evaluation every 6).
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/config/job_spec.h"
#include "common/data/synth.h"
#include "worker/train/progress.h"

namespace chorus::train {

// Records what the trainer reports; flips a stop flag once it reports step
// `stop_at` (0: never).
class RecordingReporter : public ProgressReporter {
 public:
  explicit RecordingReporter(int64_t stop_at = 0, std::atomic<bool>* flag = nullptr) : stop_at_(stop_at), flag_(flag) {}
  void OnStep(const StepProgress& p) override {
    steps_.push_back(p.step);
    losses_.push_back(p.loss);
    if (flag_ && stop_at_ > 0 && p.step >= stop_at_) flag_->store(true);
  }
  void OnEvaluation(int64_t, const std::string& split, const tasks::TaskReport& r) override {
    ++evaluations_;
    if (split == "validation") validation_accuracy_.push_back(r.score);
  }
  void OnCheckpoint(int64_t step, const std::string&) override { checkpoints_.push_back(step); }
  std::vector<int64_t> steps_, checkpoints_;
  std::vector<double> losses_, validation_accuracy_;
  int evaluations_ = 0;

 private:
  int64_t stop_at_;
  std::atomic<bool>* flag_;
};

// Makes `words` x `voices` x `takes` clips (and background noise) under root/data.
inline void MakeSynthDataset(const std::filesystem::path& root, std::vector<std::string> words, int voices,
                             int takes) {
  data::SynthOptions o;
  o.root = (root / "data").string();
  o.words = std::move(words);
  o.num_voices = voices;
  o.takes_per_voice = takes;
  o.noise_seconds = 2;
  ASSERT_TRUE(data::SynthesizeDataset(o).ok());
}

inline std::filesystem::path TestRoot(const std::string& name) {
  return std::filesystem::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
}

inline config::TrainJobSpec SmallSpec(const std::filesystem::path& root, const std::string& run) {
  config::TrainJobSpec spec;
  spec.name = "t";
  spec.dataset.root = (root / "data").string();
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
  spec.output.dir = (root / run).string();
  return spec;
}

}  // namespace chorus::train
