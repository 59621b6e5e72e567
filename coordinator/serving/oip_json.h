// Open Inference Protocol v2 JSON bodies to and from the serving protos: an
// infer request's body into an InferRequest (the one input tensor, requested
// outputs, parameters), an InferReply into the reply's body. Pure functions,
// thread-safe. Hostile bodies (deep nesting, huge shapes, values out of
// range, wrong types) are an InvalidArgument naming the field, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/proto/serve.pb.h"
#include "common/util/status.h"

namespace chorus::coordinator {

// JSON bodies nest at most this deep (a body of 200,000 '[' once overflowed
// the stack and took the coordinator down). An OIP request needs about 5
// levels. ParseInferJson's parser enforces it while parsing; CheckJsonDepth
// is for bodies read with nlohmann::json, whose values recurse.
inline constexpr int kMaxJsonDepth = 64;
// A request waits at most an hour; a tensor holds at most 2^28 values (the
// body limit refuses far less first, but the check must not overflow).
inline constexpr int64_t kMaxTimeoutMs = 3600 * 1000;
inline constexpr int64_t kMaxElements = int64_t{1} << 28;

// InvalidArgument when `body` nests arrays and objects deeper than `limit`
// (brackets inside strings do not count).
Status CheckJsonDepth(const std::string& body, int limit);

// Fills `out` from an OIP v2 JSON body: the one input tensor and parameters.
// `outputs` receives the names of the outputs the body asks for (empty: all).
Status ParseInferJson(const std::string& body, proto::InferRequest* out, std::vector<std::string>* outputs);

// The reply's body with its outputs, only those named in `wanted` when it is
// not empty (an unknown name is an InvalidArgument listing the known ones).
Result<nlohmann::json> ReplyJson(const proto::InferReply& r, const std::vector<std::string>& wanted);

}  // namespace chorus::coordinator
