// Speaker-verification figures, torch-free (the trainer, the coordinator's
// speaker registry and bench/speaker_bench share them):
//
//   Embedding maths  L2 normalisation, cosine, the enrolment average (the
//                    mean of normalised embeddings, normalised again).
//   Trials           a list of (enrolled speaker or utterance, test
//                    utterance, same speaker?) with a score each.
//   Error rates      the equal error rate (EER, where false accepts and
//                    false rejects meet, and the score threshold there),
//                    minDCF (NIST's detection cost at p_target, normalised
//                    so that always rejecting costs 1), the threshold at a
//                    chosen false-accept rate.
//   Evaluation       from embeddings and their speakers: the first
//                    `enrol` utterances of each speaker (in the given
//                    order) enrol it; every other utterance is tested
//                    against every enrolled speaker; identification top-1
//                    is the share of test utterances whose best-scoring
//                    enrolled speaker is their own. Or, with an explicit
//                    trial list (VoxCeleb style), utterance against
//                    utterance.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/data/example.h"
#include "common/util/status.h"

namespace chorus::tasks {

using Embedding = std::vector<float>;

// x / |x|; a zero vector stays zero.
Embedding Normalized(const Embedding& x);
// Cosine of two vectors of one size (0 when either is zero).
double Cosine(const Embedding& a, const Embedding& b);
// The normalised mean of the normalised embeddings (none: InvalidArgument;
// sizes differ: InvalidArgument).
Result<Embedding> EnrolmentEmbedding(const std::vector<Embedding>& utterances);

struct ScoredTrial {
  double score = 0;
  bool target = false;  // same speaker
};

struct ErrorRates {
  double eer = 0;            // [0, 1]
  double eer_threshold = 0;  // accept when score >= this
  double min_dcf = 0;        // normalised, at p_target
  double min_dcf_threshold = 0;
  int64_t targets = 0;
  int64_t nontargets = 0;
};

// Needs at least one target and one non-target trial.
Result<ErrorRates> ComputeErrorRates(const std::vector<ScoredTrial>& trials, double p_target = 0.01);

// The lowest threshold whose false-accept rate is at most `far`.
Result<double> ThresholdAtFalseAcceptRate(const std::vector<ScoredTrial>& trials, double far);

struct SpeakerEvalOptions {
  int enrol = 5;           // enrolment utterances per speaker
  double p_target = 0.01;  // minDCF
  std::optional<double> threshold;  // also report the error rates at this decision threshold
};

struct SpeakerEvalReport {
  ErrorRates rates;
  double p_target = 0.01;
  double top1 = 0;        // identification among the enrolled
  int64_t speakers = 0;   // enrolled
  int64_t tests = 0;      // test utterances
  std::optional<double> threshold;  // with the options' threshold: accept at or above it
  double false_accept_rate = 0;     // at `threshold`
  double miss_rate = 0;
  std::vector<ScoredTrial> scored;  // every trial with its score (for the ROC / DET curves; not in ToJson)
  nlohmann::json ToJson() const;
  std::string ToTable() const;
};

// embeddings[i] was spoken by speakers[i]. With `trials` empty: enrolment
// trials as above (speakers with no test utterance left enrol but are not
// tested; identification runs when at least two speakers are enrolled).
// Otherwise the explicit trials (top1 stays 0).
Result<SpeakerEvalReport> EvaluateSpeakers(const std::vector<Embedding>& embeddings,
                                           const std::vector<std::string>& speakers,
                                           const std::vector<data::Trial>& trials,
                                           const SpeakerEvalOptions& options);

}  // namespace chorus::tasks
