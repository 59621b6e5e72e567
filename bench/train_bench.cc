// Single-process training throughput: the DS-CNN shape of the keyword-spotting
// jobs (40 log-mel bins x 98 frames, 12 classes, batch 64, Adam) on random
// features, so only the model's forward/backward/step is timed. Runs the same
// model in PyTorch (Debian's python3-torch, bench/train_bench.py) and prints
// both figures and their ratio.
//   train_bench [--model ds_cnn] [--threads 1] [--steps 60] [--batch 64]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "bench/bench_util.h"
#include "common/models/model.h"
#include "common/models/threads.h"
#include "common/util/allocator.h"

int main(int argc, char** argv) {
  CLI::App app{"Training samples/s of the Chorus model zoo against PyTorch on the same shapes"};
  std::string model_name = "ds_cnn";
  int threads = 1, steps = 60, batch = 64, warmup = 5;
  bool no_python = false;
  app.add_option("--model", model_name, "vgg, ds_cnn, tc_resnet or crnn")->capture_default_str();
  app.add_option("--threads", threads, "intra-op threads")->capture_default_str();
  app.add_option("--steps", steps, "timed steps")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_flag("--no-python", no_python, "skip the PyTorch baseline");
  CLI11_PARSE(app, argc, argv);

  chorus::models::SetComputeThreads(threads);
  chorus::TuneAllocatorForTensors();
  torch::manual_seed(0);
  chorus::config::ModelSpec spec;
  spec.name = model_name;
  auto model = chorus::models::CreateModel(spec, {98, 40, 12});
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  torch::optim::Adam optimizer((*model)->parameters(), torch::optim::AdamOptions(1e-3));
  torch::Tensor x = torch::randn({batch, 98, 40});
  torch::Tensor y = torch::randint(0, 12, {batch}, torch::kInt64);
  auto step = [&] {
    optimizer.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy((*model)->forward(x), y);
    loss.backward();
    optimizer.step();
  };
  for (int i = 0; i < warmup; ++i) step();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double ours = steps * batch / seconds;

  std::printf("training throughput, model %s, batch %d, input 98x40, 12 classes, Adam, %d thread(s)\n",
              model_name.c_str(), batch, threads);
  std::printf("%-22s %14s\n", "implementation", "samples/s");
  std::printf("%-22s %14.1f\n", "chorus (LibTorch C++)", ours);
  if (no_python) return 0;
  const std::string cmd = "/usr/bin/python3 " + chorus::bench::SourcePath("bench/train_bench.py") + " --model " +
                          model_name + " --threads " + std::to_string(threads) + " --steps " + std::to_string(steps) +
                          " --batch " + std::to_string(batch);
  auto python = chorus::bench::RunAndReadNumber(cmd);
  if (!python.ok()) {
    std::printf("%-22s %14s  (%s)\n", "pytorch (python)", "n/a", python.status().message().c_str());
    return 1;
  }
  std::printf("%-22s %14.1f\n", "pytorch (python)", *python);
  std::printf("ratio chorus/pytorch: %.2fx\n", ours / *python);
  return 0;
}
