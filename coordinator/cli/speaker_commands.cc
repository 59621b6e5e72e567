#include "coordinator/cli/speaker_commands.h"

#include <cstdio>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/util/fs.h"
#include "coordinator/cli/job_commands.h"

namespace chorus::cli {
namespace {

using nlohmann::json;

// One call to the gateway: the reply's JSON, or its {"error"} as a Status.
class GatewayClient {
 public:
  static Result<GatewayClient> Connect(const ConnectOptions& connect) {
    ASSIGN_OR_RETURN(ServingConnection serving, ConnectServing(connect));
    if (serving.status.http().empty()) return Unavailable("the coordinator serves no HTTP gateway");
    return GatewayClient(serving.status.http(), serving.client.token());
  }

  Result<json> Call(const std::string& method, const std::string& path, const httplib::MultipartFormDataItems& items) {
    httplib::Client client(url_);
    client.set_read_timeout(60, 0);
    const httplib::Headers headers = {{"Authorization", "Bearer " + token_}};
    httplib::Result r = method == "GET"      ? client.Get(path.c_str(), headers)
                        : method == "DELETE" ? client.Delete(path.c_str(), headers)
                        : method == "PUT"    ? client.Put(path.c_str(), headers, items)
                                             : client.Post(path.c_str(), headers, items);
    if (!r) return Unavailable("no answer from the gateway at " + url_ + " (" + httplib::to_string(r.error()) + ")");
    const json body = json::parse(r->body, nullptr, false);
    if (r->status != 200) {
      const std::string message = body.is_object() && body.contains("error") ? body["error"].get<std::string>()
                                                                              : r->body;
      const StatusCode code = r->status == 404   ? StatusCode::kNotFound
                              : r->status == 401 ? StatusCode::kUnauthenticated
                              : r->status == 400 ? StatusCode::kInvalidArgument
                              : r->status == 409 ? StatusCode::kFailedPrecondition
                                                 : StatusCode::kUnavailable;
      return Status(code, message);
    }
    if (!body.is_object()) return Internal("the gateway answered with something that is not JSON");
    return body;
  }

 private:
  GatewayClient(std::string url, std::string token) : url_(std::move(url)), token_(std::move(token)) {}
  std::string url_, token_;
};

Result<httplib::MultipartFormDataItems> AudioParts(const std::vector<std::string>& files) {
  httplib::MultipartFormDataItems items;
  for (const auto& f : files) {
    Result<std::string> bytes = ReadFile(f);
    if (!bytes.ok()) return bytes.status();
    items.push_back({"audio", std::move(*bytes), f, "audio/wav"});
  }
  return items;
}

}  // namespace

void SpeakerCommands::Register(CLI::App& app) {
  CLI::App* speaker = app.add_subcommand(
      "speaker", "Enrol, verify and identify speakers with an embed deployment (speaker recognition); only the "
                 "averaged embedding is kept, never the audio");
  speaker->require_subcommand(1);
  enrol_ = speaker->add_subcommand("enrol", "Enrol NAME from one or more utterances (re-enrolling replaces it)");
  enrol_->add_option("deployment", deployment_, "an embed deployment")->required();
  enrol_->add_option("name", name_, "speaker name: letters, digits, '.', '_', '-'")->required();
  enrol_->add_option("files", files_, "WAV or FLAC utterances of the speaker")->required()->check(CLI::ExistingFile);
  verify_ = speaker->add_subcommand("verify", "Is FILE spoken by the enrolled NAME? (exit 1 when rejected)");
  verify_->add_option("deployment", deployment_, "an embed deployment")->required();
  verify_->add_option("name", name_, "an enrolled speaker")->required();
  verify_->add_option("file", files_, "one utterance")->required()->expected(1)->check(CLI::ExistingFile);
  identify_ = speaker->add_subcommand("identify", "Who among the enrolled speaks FILE? (\"unknown\" below the "
                                                  "model's threshold)");
  identify_->add_option("deployment", deployment_, "an embed deployment")->required();
  identify_->add_option("file", files_, "one utterance")->required()->expected(1)->check(CLI::ExistingFile);
  identify_->add_option("--top-k", top_k_, "candidates to show")->capture_default_str()->check(CLI::Range(1, 100));
  list_ = speaker->add_subcommand("list", "The enrolled speakers of a deployment");
  list_->add_option("deployment", deployment_, "an embed deployment")->required();
  delete_ = speaker->add_subcommand("delete", "Forget an enrolled speaker (every stored copy)");
  delete_->add_option("deployment", deployment_, "an embed deployment")->required();
  delete_->add_option("name", name_, "an enrolled speaker")->required();
  for (CLI::App* command : {enrol_, verify_, identify_, list_, delete_})
    command->add_option("--output", output_, "table or json")->capture_default_str();
}

std::optional<int> SpeakerCommands::Run() {
  if (!enrol_->parsed() && !verify_->parsed() && !identify_->parsed() && !list_->parsed() && !delete_->parsed())
    return std::nullopt;
  if (output_ != "table" && output_ != "json") return FailWith(InvalidArgument("--output must be table or json"));
  auto gateway = GatewayClient::Connect(connect_);
  if (!gateway.ok()) return FailWith(gateway.status());
  auto parts = AudioParts(files_);
  if (!parts.ok()) return FailWith(parts.status());
  const std::string base = "/v2/models/" + deployment_;
  Result<json> reply = Internal("no command");
  if (enrol_->parsed()) reply = gateway->Call("PUT", base + "/speakers/" + name_, *parts);
  else if (verify_->parsed()) reply = gateway->Call("POST", base + "/speakers/" + name_ + "/verify", *parts);
  else if (identify_->parsed()) reply = gateway->Call("POST", base + "/identify?top_k=" + std::to_string(top_k_), *parts);
  else if (list_->parsed()) reply = gateway->Call("GET", base + "/speakers", {});
  else reply = gateway->Call("DELETE", base + "/speakers/" + name_, {});
  if (!reply.ok()) return FailWith(reply.status());
  const json& j = *reply;
  if (output_ == "json") {
    std::printf("%s\n", j.dump(2).c_str());
  } else if (enrol_->parsed()) {
    std::printf("%s %s in %s from %lld utterance(s)\n", j["re_enrolled"].get<bool>() ? "re-enrolled" : "enrolled",
                name_.c_str(), deployment_.c_str(), static_cast<long long>(j["utterances"].get<int64_t>()));
  } else if (verify_->parsed()) {
    std::printf("%s: %s (score %.3f, threshold %.3f)\n", name_.c_str(),
                j["accepted"].get<bool>() ? "ACCEPTED" : "REJECTED", j["score"].get<double>(),
                j["threshold"].get<double>());
  } else if (identify_->parsed()) {
    std::printf("%s (threshold %.3f)\n", j["speaker"].get<std::string>().c_str(), j["threshold"].get<double>());
    for (const auto& c : j["candidates"])
      std::printf("  %-24s %.3f\n", c["speaker"].get<std::string>().c_str(), c["score"].get<double>());
  } else if (list_->parsed()) {
    std::printf("%-24s %10s\n", "SPEAKER", "UTTERANCES");
    for (const auto& s : j["speakers"])
      std::printf("%-24s %10lld\n", s["speaker"].get<std::string>().c_str(),
                  static_cast<long long>(s["utterances"].get<int64_t>()));
  } else {
    std::printf("deleted %s from %s\n", name_.c_str(), deployment_.c_str());
  }
  if (verify_->parsed() && !j["accepted"].get<bool>()) return 1;
  return 0;
}

}  // namespace chorus::cli
