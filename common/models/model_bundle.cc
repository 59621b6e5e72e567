#include "common/models/model_bundle.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>

#include <torch/torch.h>

#include "common/util/fs.h"

namespace chorus::models {
namespace {

namespace fs = std::filesystem;

std::string NowIso8601() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

int64_t HighestVersion(const fs::path& model_dir) {
  int64_t highest = 0;
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) return 0;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    highest = std::max<int64_t>(highest, std::stoll(name));
  }
  return highest;
}

}  // namespace

nlohmann::json ModelMetadata::ToJson() const {
  nlohmann::json j;
  j["format"] = "chorus-model-1";
  j["name"] = name;
  j["version"] = version;
  j["model"] = {{"name", model.name}, {"width", model.width}, {"dropout", model.dropout}, {"hidden", model.hidden},
                {"norm", model.norm}, {"embedding_dim", model.embedding_dim}};
  j["input"] = {{"frames", shape.frames}, {"bins", shape.bins}, {"num_classes", shape.num_classes}};
  j["features"] = audio::FeatureOptionsToJson(features);
  j["labels"] = labels;
  j["clip_seconds"] = clip_seconds;
  j["task"] = task;
  j["task_options"] = task_options;
  j["metrics"] = metrics;
  j["evaluation"] = {{"training_seed", training_seed}, {"silence_volume_max", silence_volume_max}};
  j["source_job"] = source_job;
  j["created_at"] = created_at;
  return j;
}

Result<ModelMetadata> ModelMetadata::FromJson(const nlohmann::json& j, const std::string& where) {
  ModelMetadata m;
  try {
    if (j.value("format", "") != "chorus-model-1") {
      return InvalidArgument(where + ": not a Chorus model description (format must be chorus-model-1)");
    }
    m.name = j.at("name").get<std::string>();
    m.version = j.at("version").get<int64_t>();
    const auto& mj = j.at("model");
    m.model.name = mj.at("name").get<std::string>();
    m.model.width = mj.at("width").get<int>();
    m.model.dropout = mj.at("dropout").get<double>();
    m.model.hidden = mj.at("hidden").get<int>();
    m.model.norm = mj.value("norm", "batch");
    m.model.embedding_dim = mj.value("embedding_dim", m.model.embedding_dim);
    const auto& in = j.at("input");
    m.shape.frames = in.at("frames").get<int64_t>();
    m.shape.bins = in.at("bins").get<int64_t>();
    m.shape.num_classes = in.at("num_classes").get<int64_t>();
    m.labels = j.at("labels").get<std::vector<std::string>>();
    m.clip_seconds = j.at("clip_seconds").get<double>();
    m.task = j.value("task", "classify");  // exports before the task layer were all classifiers
    m.task_options = j.value("task_options", nlohmann::json::object());
    m.metrics = j.value("metrics", nlohmann::json::object());
    if (j.contains("evaluation")) {
      m.training_seed = j["evaluation"].value("training_seed", m.training_seed);
      m.silence_volume_max = j["evaluation"].value("silence_volume_max", m.silence_volume_max);
    }
    m.source_job = j.value("source_job", "");
    m.created_at = j.value("created_at", "");
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(where + ": " + e.what());
  }
  auto features = audio::FeatureOptionsFromJson(j.at("features"));
  if (!features.ok()) return features.status().WithContext(where + ": features");
  m.features = *features;
  if (static_cast<int64_t>(m.labels.size()) != m.shape.num_classes) {
    return InvalidArgument(where + ": " + std::to_string(m.labels.size()) + " labels but num_classes is " +
                           std::to_string(m.shape.num_classes));
  }
  return m;
}

Result<std::string> ExportModel(Model& model, ModelMetadata metadata, const std::string& repository) {
  const fs::path model_dir = fs::path(repository) / metadata.name;
  RETURN_IF_ERROR(MakeDirs(model_dir.string()));
  if (metadata.version <= 0) metadata.version = HighestVersion(model_dir) + 1;
  metadata.created_at = NowIso8601();
  const fs::path final_dir = model_dir / std::to_string(metadata.version);
  if (fs::exists(final_dir)) return AlreadyExists(final_dir.string() + ": model version already exists");

  const fs::path tmp_dir = model_dir / (".tmp-" + std::to_string(metadata.version) + "-" + std::to_string(::getpid()));
  std::error_code ec;
  fs::remove_all(tmp_dir, ec);
  RETURN_IF_ERROR(MakeDirs(tmp_dir.string()));
  Status st = AtomicWriteWith((tmp_dir / "model.pt").string(), [&](const std::string& tmp) -> Status {
    try {
      torch::serialize::OutputArchive archive;
      model.save(archive);
      archive.save_to(tmp);
    } catch (const c10::Error& e) {
      return IoError(tmp + ": cannot save weights: " + e.what_without_backtrace());
    }
    return Status::Ok();
  });
  if (st.ok()) st = AtomicWriteFile((tmp_dir / "model.json").string(), metadata.ToJson().dump(2) + "\n");
  if (st.ok()) {
    fs::rename(tmp_dir, final_dir, ec);
    if (ec) st = IoError(final_dir.string() + ": cannot move export into place: " + ec.message());
  }
  if (!st.ok()) {
    fs::remove_all(tmp_dir, ec);
    return st;
  }
  return final_dir.string();
}

Result<LoadedModel> LoadModel(const std::string& dir) {
  const std::string json_path = (fs::path(dir) / "model.json").string();
  const std::string weights_path = (fs::path(dir) / "model.pt").string();
  ASSIGN_OR_RETURN(std::string text, ReadFile(json_path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument(json_path + ": not valid JSON");
  ASSIGN_OR_RETURN(ModelMetadata metadata, ModelMetadata::FromJson(j, json_path));
  ASSIGN_OR_RETURN(ModelPtr model, CreateModel(metadata.model, metadata.shape));
  if (!fs::exists(weights_path)) return NotFound(weights_path + ": weights file is missing");
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(weights_path, torch::kCPU);  // written on any device, read onto the CPU
    model->load(archive);
  } catch (const c10::Error& e) {
    return Corruption(weights_path + ": cannot load weights for '" + metadata.model.name +
                      "': " + e.what_without_backtrace());
  }
  model->eval();
  return LoadedModel{std::move(metadata), std::move(model)};
}

}  // namespace chorus::models
