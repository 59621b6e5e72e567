#include "worker/train/checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "common/util/fs.h"

namespace chorus::train {
namespace {

namespace fs = std::filesystem;

constexpr const char* kLatest = "latest";
constexpr const char* kCudaRng = "rng_cuda";

}  // namespace

nlohmann::json TrainerState::ToJson() const {
  return {{"step", step},           {"epoch", epoch},         {"batch_in_epoch", batch_in_epoch},
          {"best_metric", best_metric}, {"best_step", best_step}, {"evals_since_best", evals_since_best},
          {"samples_seen", samples_seen}};
}

Result<TrainerState> TrainerState::FromJson(const nlohmann::json& j) {
  TrainerState s;
  try {
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.batch_in_epoch = j.at("batch_in_epoch").get<int64_t>();
    s.best_metric = j.at("best_metric").get<double>();
    s.best_step = j.at("best_step").get<int64_t>();
    s.evals_since_best = j.at("evals_since_best").get<int>();
    s.samples_seen = j.at("samples_seen").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return Corruption(std::string("trainer state: ") + e.what());
  }
  return s;
}

Result<std::string> CheckpointStore::Save(const TrainerState& state, models::Model& model, const FlatState& optimizer) {
  RETURN_IF_ERROR(MakeDirs(dir_));
  const std::string name = "ckpt-" + std::to_string(state.step) + ".pt";
  const std::string path = (fs::path(dir_) / name).string();
  RETURN_IF_ERROR(AtomicWriteWith(path, [&](const std::string& tmp) -> Status {
    try {
      torch::serialize::OutputArchive archive, model_archive, optimizer_archive;
      model.save(model_archive);
      optimizer_archive.write("step", c10::IValue(optimizer.step));
      for (const auto& [name, tensor] : optimizer.tensors) optimizer_archive.write(name, tensor, /*is_buffer=*/true);
      archive.write("model", model_archive);
      archive.write("optimizer", optimizer_archive);
      archive.write("rng", at::detail::getDefaultCPUGenerator().get_state(), /*is_buffer=*/true);
      if (model.device().is_cuda()) {
        archive.write(kCudaRng, at::globalContext().defaultGenerator(model.device()).get_state(), /*is_buffer=*/true);
      }
      archive.write("state", c10::IValue(state.ToJson().dump()));
      // Through a stream, not the path: a path names the archive's records
      // after the temporary file (and so the writer's pid), and the same
      // state must give the same bytes whoever writes it.
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      archive.save_to(out);
      out.close();
      if (!out) return IoError(tmp + ": cannot write checkpoint: " + std::strerror(errno));
    } catch (const c10::Error& e) {
      return IoError(tmp + ": cannot write checkpoint: " + e.what_without_backtrace());
    }
    return Status::Ok();
  }));
  RETURN_IF_ERROR(AtomicWriteFile((fs::path(dir_) / kLatest).string(), name + "\n"));

  // Prune: keep the newest `keep_` checkpoints.
  std::vector<std::pair<int64_t, fs::path>> found;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string f = entry.path().filename().string();
    if (f.rfind("ckpt-", 0) == 0 && entry.path().extension() == ".pt") {
      try {
        found.emplace_back(std::stoll(f.substr(5)), entry.path());
      } catch (const std::exception&) {
      }
    }
  }
  std::sort(found.rbegin(), found.rend());
  for (std::size_t i = static_cast<std::size_t>(keep_); i < found.size(); ++i) {
    std::error_code ec;
    fs::remove(found[i].second, ec);
  }
  return path;
}

Result<std::optional<std::string>> CheckpointStore::Latest() const {
  const fs::path latest = fs::path(dir_) / kLatest;
  if (!fs::exists(latest)) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::string name, ReadFile(latest.string()));
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  const fs::path path = fs::path(dir_) / name;
  if (name.empty() || !fs::exists(path)) {
    return Corruption(latest.string() + ": points at '" + name + "', which does not exist");
  }
  return std::optional<std::string>(path.string());
}

Status CheckpointStore::Load(const std::string& path, c10::Device device, TrainerState* state, models::Model& model,
                             FlatState* optimizer) {
  try {
    torch::serialize::InputArchive archive, model_archive, optimizer_archive;
    archive.load_from(path, device);
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    model.load(model_archive);
    c10::IValue step;
    optimizer_archive.read("step", step);
    optimizer->step = step.toInt();
    optimizer->tensors.clear();
    for (const auto& key : optimizer_archive.keys()) {
      if (key == "step") continue;
      torch::Tensor t;
      optimizer_archive.read(key, t, /*is_buffer=*/true);
      optimizer->tensors[key] = t;
    }
    torch::Tensor rng;
    archive.read("rng", rng, /*is_buffer=*/true);
    at::Generator generator = at::detail::getDefaultCPUGenerator();
    generator.set_state(rng.cpu());
    torch::Tensor cuda_rng;
    if (device.is_cuda() && archive.try_read(kCudaRng, cuda_rng, /*is_buffer=*/true)) {
      at::Generator cuda_generator = at::globalContext().defaultGenerator(device);  // a handle: shares the state
      cuda_generator.set_state(cuda_rng.cpu());
    }
    c10::IValue text;
    archive.read("state", text);
    nlohmann::json j = nlohmann::json::parse(text.toStringRef(), nullptr, false);
    if (j.is_discarded()) return Corruption(path + ": trainer state is not valid JSON");
    Result<TrainerState> parsed = TrainerState::FromJson(j);
    if (!parsed.ok()) return parsed.status().WithContext(path);
    *state = *parsed;
  } catch (const c10::Error& e) {
    return Corruption(path + ": cannot load checkpoint: " + e.what_without_backtrace());
  }
  return Status::Ok();
}

}  // namespace chorus::train
