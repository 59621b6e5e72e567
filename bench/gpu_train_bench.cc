// gpu_train_bench: one training step on one GPU, Chorus against PyTorch eager
// on the same GPU, same model, batch, shapes and optimizer, in fp32 and bf16.
//
// Ours is the trainer's own step (worker/train/train_step.h): the batch
// copied from pinned host memory, forward and cross-entropy (under bfloat16
// autocast for bf16), backward, Adam over the flat parameter vector, the
// statistics kept on the device. PyTorch's (bench/gpu_train_bench.py) is the
// loop a PyTorch user writes, also from pinned memory, with Adam's default
// (foreach) implementation; it also reports the step with the 2-D models in
// channels-last format and the whole step captured in a CUDA graph, and the
// log-mel front end of a batch on the GPU. Times are medians of five rounds.
//   gpu_train_bench [--batch 256] [--steps 200] [--models tc_resnet:24,ds_cnn:64]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "bench/bench_util.h"
#include "common/audio/features.h"
#include "common/models/device.h"
#include "common/models/model.h"
#include "common/util/allocator.h"
#include "worker/train/flat_optimizer.h"
#include "worker/train/train_step.h"

namespace {

using namespace chorus;
using Clock = std::chrono::steady_clock;

double MedianMs(const std::function<void()>& step, int steps, int warmup) {
  for (int i = 0; i < warmup; ++i) step();
  torch::cuda::synchronize();
  std::vector<double> rounds;
  const int per_round = std::max(1, steps / 5);
  for (int r = 0; r < 5; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < per_round; ++i) step();
    torch::cuda::synchronize();
    rounds.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / per_round);
  }
  std::sort(rounds.begin(), rounds.end());
  return rounds[2];
}

struct Ours {
  int64_t parameters = 0;
  double ms = 0;
};

Result<Ours> TimeOurs(const std::string& name, int width, int batch, bool bf16, int steps, int warmup) {
  config::ModelSpec spec;
  spec.name = name;
  spec.width = width;
  torch::manual_seed(0);
  ASSIGN_OR_RETURN(models::ModelPtr model, models::CreateModel(spec, {98, 40, 12}));
  model->to(torch::Device(torch::kCUDA, 0));
  config::OptimizerSpec adam;
  adam.kind = "adam";
  adam.lr = 1e-3;
  ASSIGN_OR_RETURN(auto optimizer, train::FlatOptimizer::Create(model->parameters(), adam, nullptr, false));
  train::StepOptions so;
  so.bf16 = bf16;
  std::vector<std::string> labels;
  for (int c = 0; c < 12; ++c) labels.push_back("class" + std::to_string(c));
  ASSIGN_OR_RETURN(std::unique_ptr<tasks::Task> task, tasks::Task::Create("classify", labels));
  train::StepRunner runner(*model, *task, *optimizer, nullptr, so);
  const torch::Tensor x = torch::randn({batch, 98, 40}).pin_memory();
  tasks::Targets y;
  y.labels = torch::randint(0, 12, {batch}, torch::kInt64).pin_memory();
  torch::Tensor window = torch::zeros({2}, torch::TensorOptions().dtype(torch::kFloat64).device(runner.device()));
  int64_t step = 0;
  Status failed = Status::Ok();
  auto one = [&] {
    runner.Accumulate(x, y, 0, ++step);
    Status s = runner.Apply(1e-3, "bench");
    if (!s.ok()) failed = s;
    window.add_(runner.TakeStats());  // as the trainer does each step
  };
  Ours out;
  out.parameters = models::CountParameters(*model);
  out.ms = MedianMs(one, steps, warmup);
  RETURN_IF_ERROR(failed);
  return out;
}

// Microseconds per 1 s clip for our log-mel front end on one CPU thread.
double FrontEndMicros() {
  audio::FeatureOptions fo;
  fo.kind = audio::FeatureKind::kLogMel;
  auto fx = audio::FeatureExtractor::Create(fo);
  if (!fx.ok()) return -1;
  std::vector<float> clip(16000);
  for (size_t i = 0; i < clip.size(); ++i) clip[i] = 0.1f * std::sin(0.05f * i);
  for (int i = 0; i < 20; ++i) (void)fx->Compute(clip);
  const auto t0 = Clock::now();
  const int n = 400;
  for (int i = 0; i < n; ++i) (void)fx->Compute(clip);
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / n;
}

std::string Fmt(const nlohmann::json& j, const std::string& key) {
  if (!j.contains(key) || !j[key].is_number()) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", j[key].get<double>());
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gpu_train_bench: a training step on one GPU, Chorus against PyTorch eager, fp32 and bf16"};
  int batch = 256, steps = 200, warmup = 30;
  std::string models_arg = "tc_resnet:24,ds_cnn:64";
  bool no_python = false;
  app.add_option("--batch", batch, "batch size, both sides")->capture_default_str()->check(CLI::Range(1, 65536));
  app.add_option("--steps", steps, "timed steps (five rounds)")->capture_default_str()->check(CLI::Range(5, 100000));
  app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--models", models_arg, "name:width,... (tc_resnet:24 is the demo's keyword spotter)")
      ->capture_default_str();
  app.add_flag("--no-python", no_python, "skip PyTorch");
  CLI11_PARSE(app, argc, argv);
  if (models::CudaDeviceCount() == 0) {
    std::fprintf(stderr, "gpu_train_bench: no CUDA GPU is usable here (LibTorch without CUDA, or no GPU)\n");
    return 2;
  }
  TuneAllocatorForTensors();
  const char* python_env = std::getenv("CHORUS_PYTHON");
  const std::string python = python_env ? python_env : "python3";

  std::printf("training step on one GPU: batch %d, 98x40 log-mel input, 12 classes, Adam; medians of 5 rounds of "
              "%d steps\n",
              batch, steps / 5);
  std::printf("%-16s %-5s %9s %10s %8s   %12s %10s\n", "model", "prec", "ours ms", "eager ms", "ratio",
              "ch-last ms", "graph ms");
  bool all_met = true;
  double slowest_step_ms = 0;
  nlohmann::json front_end;
  std::stringstream list(models_arg);
  std::string item;
  while (std::getline(list, item, ',')) {
    const std::string name = item.substr(0, item.find(':'));
    const int width = item.find(':') == std::string::npos ? 64 : std::stoi(item.substr(item.find(':') + 1));
    nlohmann::json py;
    if (!no_python) {
      const std::string cmd = "cd " + bench::SourcePath("bench") + " && " + python + " gpu_train_bench.py --model " +
                              name + " --width " + std::to_string(width) + " --batch " + std::to_string(batch) +
                              " --steps " + std::to_string(steps) + " --warmup " + std::to_string(warmup);
      auto line = bench::RunAndReadLastLine(cmd);
      if (line.ok()) py = nlohmann::json::parse(*line, nullptr, false);
      if (!line.ok() || py.is_discarded()) {
        std::printf("  pytorch: %s\n", line.ok() ? ("not JSON: " + *line).c_str() : line.status().ToString().c_str());
        py = nlohmann::json::object();
      }
      if (py.contains("gpu_front_end_ms")) front_end = py;
    }
    for (const std::string precision : {"fp32", "bf16"}) {
      auto ours = TimeOurs(name, width, batch, precision == "bf16", steps, warmup);
      if (!ours.ok()) {
        std::printf("%-16s %-5s failed: %s\n", name.c_str(), precision.c_str(), ours.status().ToString().c_str());
        all_met = false;
        continue;
      }
      slowest_step_ms = std::max(slowest_step_ms, ours->ms);
      const std::string label = name + " w" + std::to_string(width);
      const std::string eager_key = "eager_" + precision + "_ms";
      std::string ratio = "n/a";
      if (py.contains(eager_key)) {
        const double r = py[eager_key].get<double>() / ours->ms;
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2fx", r);
        ratio = buf;
        all_met = all_met && r >= 1.0;
      }
      std::printf("%-16s %-5s %9.3f %10s %8s   %12s %10s\n", label.c_str(), precision.c_str(), ours->ms,
                  Fmt(py, eager_key).c_str(), ratio.c_str(), Fmt(py, "channels_last_" + precision + "_ms").c_str(),
                  Fmt(py, "graph_" + precision + "_ms").c_str());
      if (py.contains("graph_" + precision + "_error"))
        std::printf("   (CUDA graph capture failed: %s)\n", py["graph_" + precision + "_error"].get<std::string>().c_str());
    }
    if (py.contains("parameters"))
      std::printf("   %s: %lld parameters in PyTorch's twin\n", name.c_str(),
                  static_cast<long long>(py["parameters"].get<int64_t>()));
  }
  std::printf("ratio = PyTorch eager ms / ours (>= 1.00x: no slower than PyTorch eager; goal %s)\n",
              no_python ? "not checked" : all_met ? "met" : "NOT met");
  std::printf("ch-last: PyTorch eager with channels-last 2-D models (ours always runs them channels-last); "
              "graph: PyTorch with the whole step in one CUDA graph\n");
  const double cpu_us = FrontEndMicros();
  std::printf("front end: ours on one CPU thread %.0f us per 1 s clip, so %.2f ms per batch of %d per thread",
              cpu_us, cpu_us * batch / 1000, batch);
  if (front_end.contains("gpu_front_end_ms"))
    std::printf("; torchaudio on the GPU %.3f ms per batch", front_end["gpu_front_end_ms"].get<double>());
  std::printf("; the slowest GPU step above takes %.3f ms, so %.0f loader threads keep up with it\n", slowest_step_ms,
              std::ceil(cpu_us * batch / 1000 / std::max(1e-9, slowest_step_ms)));
  return 0;
}
