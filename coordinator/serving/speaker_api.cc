#include "coordinator/serving/speaker_api.h"

#include <algorithm>

#include "common/tasks/speaker_metrics.h"

namespace chorus::coordinator {

using nlohmann::json;

Result<EmbedModelFacts> SpeakerApi::EmbedModel(const std::string& model) {
  ASSIGN_OR_RETURN(EmbedModelFacts facts, lookup_(model));
  if (facts.task != "embed") {
    return InvalidArgument("model '" + model + "' is a " + (facts.task.empty() ? "classify" : facts.task) +
                           " model; speakers are enrolled, verified and identified with an embed model");
  }
  return facts;
}

Result<std::vector<float>> SpeakerApi::Embed(const std::string& model, const std::string& audio,
                                             const std::string& what) {
  if (audio.empty()) return InvalidArgument(what + " is empty");
  Result<std::vector<float>> e = embed_(model, audio);
  if (!e.ok()) return e.status().WithContext(what);
  if (e->empty()) return Internal(what + ": model '" + model + "' returned no embedding");
  return e;
}

Result<json> SpeakerApi::Enrol(const std::string& model, const std::string& name, const std::vector<std::string>& audio) {
  RETURN_IF_ERROR(ValidateSpeakerName(name));
  RETURN_IF_ERROR(EmbedModel(model).status());
  if (audio.empty()) return InvalidArgument("enrolling '" + name + "' needs at least one utterance");
  std::vector<tasks::Embedding> embeddings;
  for (size_t i = 0; i < audio.size(); ++i) {
    ASSIGN_OR_RETURN(tasks::Embedding e, Embed(model, audio[i], "utterance " + std::to_string(i + 1)));
    embeddings.push_back(std::move(e));
  }
  ASSIGN_OR_RETURN(tasks::Embedding mean, tasks::EnrolmentEmbedding(embeddings));
  const bool existed = registry_.Get(model, name).ok();
  EnrolledSpeaker s;
  s.name = name;
  s.utterances = static_cast<int64_t>(audio.size());
  s.embedding = std::move(mean);
  RETURN_IF_ERROR(registry_.Enrol(model, s));
  return json{{"model_name", model}, {"speaker", name}, {"utterances", s.utterances}, {"re_enrolled", existed}};
}

Result<json> SpeakerApi::Verify(const std::string& model, const std::string& name, const std::string& audio) {
  ASSIGN_OR_RETURN(EmbedModelFacts facts, EmbedModel(model));
  ASSIGN_OR_RETURN(EnrolledSpeaker enrolled, registry_.Get(model, name));
  ASSIGN_OR_RETURN(tasks::Embedding probe, Embed(model, audio, "the utterance"));
  if (probe.size() != enrolled.embedding.size()) {
    return FailedPrecondition("'" + name + "' was enrolled with another version of model '" + model +
                              "' (embedding sizes differ); enrol again");
  }
  const double score = tasks::Cosine(enrolled.embedding, probe);
  return json{{"model_name", model},
              {"speaker", name},
              {"score", score},
              {"threshold", facts.threshold},
              {"accepted", score >= facts.threshold}};
}

Result<json> SpeakerApi::Identify(const std::string& model, const std::string& audio, int top_k) {
  ASSIGN_OR_RETURN(EmbedModelFacts facts, EmbedModel(model));
  if (top_k < 1 || top_k > 100) return InvalidArgument("top_k must be in [1, 100]");
  ASSIGN_OR_RETURN(std::vector<EnrolledSpeaker> all, registry_.All(model));
  if (all.empty()) return FailedPrecondition("no speakers are enrolled in '" + model + "'; enrol some first");
  ASSIGN_OR_RETURN(tasks::Embedding probe, Embed(model, audio, "the utterance"));
  std::vector<std::pair<double, const EnrolledSpeaker*>> scored;
  for (const auto& s : all)
    if (s.embedding.size() == probe.size()) scored.emplace_back(tasks::Cosine(s.embedding, probe), &s);
  if (scored.empty()) {
    return FailedPrecondition("every speaker of '" + model +
                              "' was enrolled with another version of the model (embedding sizes differ); enrol again");
  }
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  json candidates = json::array();
  for (size_t i = 0; i < scored.size() && i < static_cast<size_t>(top_k); ++i)
    candidates.push_back({{"speaker", scored[i].second->name}, {"score", scored[i].first}});
  const bool known = scored.front().first >= facts.threshold;
  return json{{"model_name", model},
              {"speaker", known ? scored.front().second->name : "unknown"},
              {"threshold", facts.threshold},
              {"candidates", candidates}};
}

Result<json> SpeakerApi::List(const std::string& model) {
  RETURN_IF_ERROR(EmbedModel(model).status());
  ASSIGN_OR_RETURN(std::vector<EnrolledSpeaker> all, registry_.List(model));
  json speakers = json::array();
  for (const auto& s : all)
    speakers.push_back({{"speaker", s.name}, {"utterances", s.utterances}, {"enrolled_at", s.enrolled_at}});
  return json{{"model_name", model}, {"speakers", speakers}};
}

Result<json> SpeakerApi::Delete(const std::string& model, const std::string& name) {
  RETURN_IF_ERROR(registry_.Delete(model, name));
  return json{{"model_name", model}, {"speaker", name}, {"deleted", true}};
}

}  // namespace chorus::coordinator
