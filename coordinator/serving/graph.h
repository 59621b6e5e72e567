// Graphs: a served model made of served models, declared in the coordinator
// config (serving.graphs; coordinator/client/graph_spec.h) and asked like any
// model. Two kinds:
//
//   pipeline [detector, model]  the detector (a voice-activity model) finds
//       speech segments in the request's audio; the second model answers
//       each segment alone (its request crops the same audio to the
//       segment). The answer: "segments" [n, 2] (seconds) and each of the
//       second model's outputs stacked per segment, [n, ...] (a keyword
//       spotter: the top labels and scores of each segment; a speaker model:
//       an embedding per segment). Request parameters go to the detector.
//       A pipeline whose steps both stream (at one rate) streams too: each chunk of a
//       session goes to both steps' sessions (sequence id GRAPH/ID); the
//       answer is the detector's (speech_probability, events) and the
//       model's keywords heard in speech only: a keyword stays when the
//       detector's speech was open at some time of its window (the model's
//       clip, ending at the keyword's time). What the graph carries between
//       chunks (the detector's speech so far) is a GraphStreamState, kept
//       by the caller and handed to StreamReply as each chunk ends, in order.
//   ensemble [a, b, ...]  classifiers with the same labels answer the same
//       request; the answer is the mean of their probabilities: "labels"
//       and "scores" of the top_k (1 by default), like one classifier.
//
// A parameter named STEP.KEY goes to step STEP as KEY (kws.threshold); the
// others go to a pipeline's detector, or to every member of an ensemble.
//
// GraphRun is one request's way through its graph, as a pure state machine:
// Start() says what to ask first; each answer may say what to ask next; once
// done(), Reply() is the graph's answer (or the first step's error, named).
// The caller sends the sub-requests (the broker: through its router, with
// the request's input frame shared, not copied) and sets their deadlines.
// Not thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/proto/serve.pb.h"
#include "common/util/status.h"
#include "coordinator/client/graph_spec.h"

namespace chorus::coordinator {

// A streaming pipeline's session between chunks: the detector's speech.
struct GraphStreamState {
  bool in_speech = false;
  double speech_end_s = -1;  // where the last speech ended (-1: none yet)
};

class GraphRun {
 public:
  // `header`: the client's request without its input (its model is the
  // graph's); with a sequence, a chunk of a streaming pipeline.
  GraphRun(GraphSpec spec, proto::InferRequest header);
  bool streaming() const { return header_.has_sequence(); }
  const proto::InferRequest& header() const { return header_; }

  // The first sub-requests: the detector's, or every member's.
  std::vector<proto::InferRequest> Start();
  // The answer to sub-request `index` (the order of everything asked so
  // far); returns what to ask next.
  std::vector<proto::InferRequest> OnAnswer(size_t index, const proto::InferReply& reply);
  bool done() const { return failed_ || (started_ && answered_ == asked_ && !pending_step_); }
  proto::InferReply Reply() const;
  // A streaming chunk's answer once done(): the merge described above, with
  // `state` read and updated; window_s: the second model's clip (how far
  // back from its time a keyword's audio reaches).
  proto::InferReply StreamReply(double window_s, GraphStreamState* state) const;

 private:
  proto::InferRequest Ask(const std::string& model) const;
  std::vector<proto::InferRequest> Segments(const proto::InferReply& detector);
  proto::InferReply Error(const std::string& step, const std::string& code, const std::string& message) const;
  void Fail(const std::string& step, const std::string& code, const std::string& message);

  GraphSpec spec_;
  proto::InferRequest header_;
  bool started_ = false, failed_ = false;
  bool pending_step_ = false;  // a pipeline whose second step is not asked yet
  size_t asked_ = 0, answered_ = 0;
  std::vector<proto::InferReply> answers_;  // by index
  std::vector<float> segments_;             // pipeline: the detector's, flat [n, 2]
  proto::InferReply error_;
};

}  // namespace chorus::coordinator
