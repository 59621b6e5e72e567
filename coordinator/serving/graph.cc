#include "coordinator/serving/graph.h"

#include <algorithm>
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
  return r;
}

std::vector<proto::InferRequest> GraphRun::Start() {
  started_ = true;
  std::vector<proto::InferRequest> out;
  if (spec_.kind == GraphSpec::Kind::kPipeline) {
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
  if (spec_.kind == GraphSpec::Kind::kPipeline && index == 0) return Segments(reply);
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
    r.clear_parameters();  // the detector's
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

}  // namespace chorus::coordinator
