// Writing and reading the named outputs of an inference reply
// (proto::InferReply.outputs), for task decoders and for clients. Pure
// functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/proto/serve.pb.h"

namespace chorus::tasks {

void AddFloats(proto::InferReply* reply, const std::string& name, const std::vector<float>& values,
               const std::vector<int64_t>& shape);
void AddBytes(proto::InferReply* reply, const std::string& name, const std::vector<std::string>& values);

// The output called `name`, or nullptr.
const proto::NamedTensor* FindOutput(const proto::InferReply& reply, const std::string& name);

}  // namespace chorus::tasks
