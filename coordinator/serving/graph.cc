#include "coordinator/serving/graph.h"

#include <algorithm>
#include <limits>
#include <map>
#include <utility>

#include "common/tasks/outputs.h"

namespace chorus::coordinator {

namespace {

// Every label of a classifier: its answer carries all of them.
constexpr int kAllLabels = 1 << 20;

}  // namespace

GraphRun::GraphRun(GraphSpec spec, proto::InferRequest header) : spec_(std::move(spec)), header_(std::move(header)) {}

proto::InferRequest GraphRun::Ask(const std::string& model) const {
  proto::InferRequest r = header_;
  r.set_model(model);
  r.set_version(0);
  r.clear_id();
  // STEP.KEY to its step; the rest to the detector or to every member.
  const bool unnamed = spec_.kind == GraphSpec::Kind::kEnsemble || model == spec_.steps.front();
  r.clear_parameters();
  for (const auto& [key, value] : header_.parameters()) {
    const size_t dot = key.find('.');
    if (dot == std::string::npos) {
      if (unnamed) (*r.mutable_parameters())[key] = value;
    } else if (key.compare(0, dot, model) == 0 && dot == model.size()) {
      (*r.mutable_parameters())[key.substr(dot + 1)] = value;
    }
  }
  return r;
}

std::vector<proto::InferRequest> GraphRun::Start() {
  started_ = true;
  std::vector<proto::InferRequest> out;
  if (spec_.kind == GraphSpec::Kind::kPipeline && streaming()) {
    for (const auto& step : spec_.steps) {  // both sessions get every chunk
      out.push_back(Ask(step));
      out.back().mutable_sequence()->set_id(spec_.name + "/" + header_.sequence().id());  // the graph's, not the client's own
    }
  } else if (spec_.kind == GraphSpec::Kind::kPipeline) {
    pending_step_ = true;
    out.push_back(Ask(spec_.steps[0]));
  } else {
    for (const auto& member : spec_.steps) {
      out.push_back(Ask(member));
      out.back().set_top_k(kAllLabels);
      out.back().set_want_logits(false);
    }
  }
  asked_ = out.size();
  answers_.resize(asked_);
  return out;
}

proto::InferReply GraphRun::Error(const std::string& step, const std::string& code, const std::string& message) const {
  proto::InferReply e;
  e.set_code(code.empty() ? "INTERNAL" : code);
  e.set_error(std::string(spec_.kind_name()) + " " + spec_.name + ", step " + step + ": " + message);
  return e;
}

void GraphRun::Fail(const std::string& step, const std::string& code, const std::string& message) {
  failed_ = true;
  error_ = Error(step, code, message);
}

std::vector<proto::InferRequest> GraphRun::OnAnswer(size_t index, const proto::InferReply& reply) {
  if (failed_ || index >= answers_.size()) return {};
  answers_[index] = reply;
  ++answered_;
  const std::string step = spec_.kind == GraphSpec::Kind::kPipeline ? spec_.steps[index == 0 ? 0 : 1]
                                                                     : spec_.steps[index];
  if (reply.code() != "OK") {
    Fail(step, reply.code(), reply.error());
    return {};
  }
  if (spec_.kind == GraphSpec::Kind::kPipeline && index == 0 && !streaming()) return Segments(reply);
  return {};
}

std::vector<proto::InferRequest> GraphRun::Segments(const proto::InferReply& detector) {
  pending_step_ = false;
  const proto::NamedTensor* segments = tasks::FindOutput(detector, "segments");
  if (!segments) {
    Fail(spec_.steps[0], "INVALID_ARGUMENT",
         "model " + spec_.steps[0] + " gives no speech segments: a pipeline's first step must be a voice-activity "
         "(detect) model");
    return {};
  }
  segments_.assign(segments->fp32().begin(), segments->fp32().end());
  std::vector<proto::InferRequest> out;
  for (size_t i = 0; i + 1 < segments_.size(); i += 2) {
    proto::InferRequest r = Ask(spec_.steps[1]);
    r.mutable_crop()->set_start_s(segments_[i]);
    r.mutable_crop()->set_end_s(segments_[i + 1]);
    out.push_back(std::move(r));
  }
  asked_ += out.size();
  answers_.resize(asked_);
  return out;
}

proto::InferReply GraphRun::Reply() const {
  if (failed_) return error_;
  proto::InferReply out;
  out.set_code("OK");
  out.set_model(spec_.name);
  out.set_version(1);
  for (const auto& a : answers_) {
    out.set_queue_us(out.queue_us() + a.queue_us());
    out.set_compute_us(out.compute_us() + a.compute_us());
  }
  out.set_batch_size(1);
  out.set_worker(answers_.empty() ? "" : answers_.front().worker());
  if (spec_.kind == GraphSpec::Kind::kPipeline) {
    const int64_t n = static_cast<int64_t>(segments_.size() / 2);
    tasks::AddFloats(&out, "segments", segments_, {n, 2});
    if (n == 0) return out;
    // Each output of the second step, one row per segment.
    for (const proto::NamedTensor& first : answers_[1].outputs()) {
      proto::NamedTensor* t = out.add_outputs();
      t->set_name(first.name());
      t->set_datatype(first.datatype());
      t->add_shape(n);
      for (int64_t d : first.shape()) t->add_shape(d);
      for (size_t i = 1; i < answers_.size(); ++i) {
        const proto::NamedTensor* mine = tasks::FindOutput(answers_[i], first.name());
        const int size = first.datatype() == "BYTES" ? first.bytes_size() : first.fp32_size();
        const int got = !mine ? -1 : mine->datatype() == "BYTES" ? mine->bytes_size() : mine->fp32_size();
        if (got != size) return Error(spec_.steps[1], "INTERNAL", "segments' answers differ in output " + first.name());
        t->mutable_bytes()->MergeFrom(mine->bytes());
        t->mutable_fp32()->MergeFrom(mine->fp32());
      }
    }
    return out;
  }
  // Ensemble: the mean probability of each label over the members.
  std::map<std::string, double> sum;
  size_t labels = 0;
  for (size_t m = 0; m < answers_.size(); ++m) {
    const proto::NamedTensor* names = tasks::FindOutput(answers_[m], "labels");
    const proto::NamedTensor* scores = tasks::FindOutput(answers_[m], "scores");
    const std::string& step = spec_.steps[m];
    if (!names || !scores || names->bytes_size() != scores->fp32_size())
      return Error(step, "INVALID_ARGUMENT", "model " + step + " gives no labels and scores: an ensemble's members "
                                             "must be classifiers");
    if (m > 0 && static_cast<size_t>(names->bytes_size()) != labels)
      return Error(step, "INVALID_ARGUMENT", "members' labels differ (" + spec_.steps[0] + " has " +
                                             std::to_string(labels) + ", " + step + " " +
                                             std::to_string(names->bytes_size()) + ")");
    labels = static_cast<size_t>(names->bytes_size());
    for (int i = 0; i < names->bytes_size(); ++i) sum[names->bytes(i)] += scores->fp32(i);
    if (sum.size() != labels) return Error(step, "INVALID_ARGUMENT", "members' labels differ");
  }
  std::vector<std::pair<std::string, double>> ranked(sum.begin(), sum.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  const size_t k = std::clamp<size_t>(header_.top_k() > 0 ? header_.top_k() : 1, 1, ranked.size());
  std::vector<std::string> names;
  std::vector<float> scores;
  for (size_t i = 0; i < k; ++i) {
    names.push_back(ranked[i].first);
    scores.push_back(static_cast<float>(ranked[i].second / answers_.size()));
  }
  tasks::AddBytes(&out, "labels", names);
  tasks::AddFloats(&out, "scores", scores, {static_cast<int64_t>(k)});
  return out;
}

proto::InferReply GraphRun::StreamReply(double window_s, GraphStreamState* state) const {
  if (failed_) return error_;
  const proto::InferReply& detector = answers_.at(0);
  const proto::InferReply& model = answers_.at(1);
  proto::InferReply out = Reply();  // counts and the worker
  out.clear_outputs();
  *out.mutable_outputs() = detector.outputs();
  const proto::NamedTensor* events = tasks::FindOutput(detector, "events");
  if (!events) {
    return Error(spec_.steps[0], "INVALID_ARGUMENT",
                 "model " + spec_.steps[0] + " gives no speech events: a streaming pipeline's first step must be a "
                 "voice-activity (detect) model");
  }
  const proto::NamedTensor* words = tasks::FindOutput(model, "keywords");
  const proto::NamedTensor* times = tasks::FindOutput(model, "keyword_times");
  const proto::NamedTensor* scores = tasks::FindOutput(model, "keyword_scores");
  if (!words || !times || !scores || words->bytes_size() != times->fp32_size() ||
      words->bytes_size() != scores->fp32_size()) {
    for (const proto::NamedTensor& t : model.outputs()) *out.add_outputs() = t;  // not a keyword spotter: as it is
    return out;
  }
  // Events and keywords in time order: a keyword sees the speech up to its time.
  size_t e = 0;
  const int n_events = events->fp32_size() / 2;
  auto apply_events_until = [&](double t) {
    for (; static_cast<int>(e) < n_events && events->fp32(static_cast<int>(2 * e)) <= t; ++e) {
      const double at = events->fp32(static_cast<int>(2 * e));
      const bool starts = events->fp32(static_cast<int>(2 * e + 1)) > 0.5f;
      if (!starts) state->speech_end_s = at;
      state->in_speech = starts;
    }
  };
  std::vector<std::string> kept_words;
  std::vector<float> kept_times, kept_scores;
  for (int k = 0; k < words->bytes_size(); ++k) {
    const double t = times->fp32(k);
    apply_events_until(t);
    if (state->in_speech || (state->speech_end_s >= 0 && state->speech_end_s >= t - window_s)) {
      kept_words.push_back(words->bytes(k));
      kept_times.push_back(times->fp32(k));
      kept_scores.push_back(scores->fp32(k));
    }
  }
  apply_events_until(std::numeric_limits<double>::infinity());
  const int64_t n = static_cast<int64_t>(kept_words.size());
  tasks::AddBytes(&out, "keywords", kept_words);
  tasks::AddFloats(&out, "keyword_times", kept_times, {n});
  tasks::AddFloats(&out, "keyword_scores", kept_scores, {n});
  return out;
}

}  // namespace chorus::coordinator
