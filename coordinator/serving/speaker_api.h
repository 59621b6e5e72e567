// SpeakerApi: enrolment, verification and identification for embed
// deployments (speaker recognition), behind the gateway's Chorus extension
// of the v2 HTTP API ("chorus_speakers", gateway.h) and the `chorus speaker`
// commands.
//
//   Enrol     every utterance is embedded by the deployment's model; if any
//             fails (too short, silent, unreadable) nothing is written and
//             the error names the utterance; otherwise the normalised mean
//             of the embeddings is stored (speaker_registry.h), replacing an
//             earlier enrolment of the name.
//   Verify    cosine of the utterance's embedding with the enrolled one;
//             accepted at or above the model's calibrated threshold (the
//             validation EER point recorded at export).
//   Identify  the top-k enrolled speakers by cosine; the decision is the
//             best one when it reaches the threshold, else "unknown".
//   List, Delete.
// Replies are JSON objects; no reply and no log line ever holds an
// embedding. The model is reached through two functions (the gateway's
// broker client in production, fakes in tests). Thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/util/status.h"
#include "coordinator/serving/speaker_registry.h"

namespace chorus::coordinator {

// What the gateway knows of a deployed model.
struct EmbedModelFacts {
  std::string task;        // must be "embed"
  double threshold = 0.5;  // cosine
};

class SpeakerApi {
 public:
  // The embedding of one utterance (audio file bytes) by `model`, or the model's refusal.
  using Embedder = std::function<Result<std::vector<float>>(const std::string& model, const std::string& audio)>;
  // NotFound for a model that is not deployed.
  using ModelLookup = std::function<Result<EmbedModelFacts>(const std::string& model)>;

  SpeakerApi(SpeakerRegistry& registry, Embedder embed, ModelLookup lookup)
      : registry_(registry), embed_(std::move(embed)), lookup_(std::move(lookup)) {}

  Result<nlohmann::json> Enrol(const std::string& model, const std::string& name, const std::vector<std::string>& audio);
  Result<nlohmann::json> Verify(const std::string& model, const std::string& name, const std::string& audio);
  Result<nlohmann::json> Identify(const std::string& model, const std::string& audio, int top_k);
  Result<nlohmann::json> List(const std::string& model);
  Result<nlohmann::json> Delete(const std::string& model, const std::string& name);

 private:
  // The model's facts, or why it cannot recognise speakers.
  Result<EmbedModelFacts> EmbedModel(const std::string& model);
  Result<std::vector<float>> Embed(const std::string& model, const std::string& audio, const std::string& what);

  SpeakerRegistry& registry_;
  Embedder embed_;
  ModelLookup lookup_;
};

}  // namespace chorus::coordinator
