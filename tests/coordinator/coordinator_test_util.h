// Fakes and helpers shared by the coordinator's unit tests: a launcher that
// records what it was asked and ends attempts when the test says so, a clock
// the test moves by hand, and a temporary state directory.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "coordinator/clock.h"
#include "coordinator/training/launcher.h"

namespace chorus::coordinator::testing {

class FakeClock : public Clock {
 public:
  double Now() override { return now; }
  double now = 1'000'000;
};

class FakeLauncher : public Launcher {
 public:
  struct Run {
    LaunchSpec spec;
    RunStatus status{RunState::kRunning, 0, ""};
    int terms = 0;
    int kills = 0;
  };

  FakeLauncher(std::string name, int slots) : name_(std::move(name)), slots_(slots) {}
  const std::string& name() const override { return name_; }
  int slots() const override { return slots_; }
  bool multi_node() const override { return name_ == "slurm"; }
  Result<std::string> Launch(const LaunchSpec& spec) override {
    if (!fail_next_launch.ok()) {
      Status s = fail_next_launch;
      fail_next_launch = Status::Ok();
      return s;
    }
    std::string handle = std::to_string(next_handle++);
    runs[handle] = Run{spec};
    last = handle;
    return handle;
  }
  Result<std::string> Find(const LaunchSpec& spec) override {
    for (const auto& [h, r] : runs)
      if (r.spec.job_id == spec.job_id && r.spec.attempt == spec.attempt) return h;
    return std::string();
  }
  RunStatus Poll(const std::string& handle, const std::string&) override {
    auto it = runs.find(handle);
    return it == runs.end() ? RunStatus{RunState::kLost, 0, "unknown handle " + handle} : it->second.status;
  }
  Status Terminate(const std::string& handle, bool force) override {
    auto& r = runs[handle];
    (force ? r.kills : r.terms)++;
    return Status::Ok();
  }
  void Exit(const std::string& handle, int code) { runs[handle].status = {RunState::kExited, code, ""}; }
  int Running() const {
    int n = 0;
    for (const auto& [h, r] : runs) n += r.status.state == RunState::kRunning;
    return n;
  }

  std::map<std::string, Run> runs;
  std::string last;
  Status fail_next_launch;
  int next_handle = 100;

 private:
  std::string name_;
  int slots_;
};

// A fresh directory under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    path_ = (std::filesystem::temp_directory_path() /
             ("chorus-coord-" + std::to_string(getpid()) + "-" + std::to_string(counter()++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::string path_;
};

// A job file that validates (the scheduler never runs it with fakes).
inline std::string ValidJobYaml(const std::string& name = "unit") {
  return "name: " + name +
         "\ndataset: {kind: speech_commands, root: data/none, words: [yes, no]}\n"
         "model: {name: tc_resnet, width: 8}\n"
         "training: {batch_size: 4, epochs: 1}\n"
         "output: {dir: runs/unit}\n";
}

}  // namespace chorus::coordinator::testing
