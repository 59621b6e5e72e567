#include "common/tasks/outputs.h"

namespace chorus::tasks {

void AddFloats(proto::InferReply* reply, const std::string& name, const std::vector<float>& values,
               const std::vector<int64_t>& shape) {
  proto::NamedTensor* t = reply->add_outputs();
  t->set_name(name);
  t->set_datatype("FP32");
  for (int64_t d : shape) t->add_shape(d);
  t->mutable_fp32()->Add(values.begin(), values.end());
}

void AddBytes(proto::InferReply* reply, const std::string& name, const std::vector<std::string>& values) {
  proto::NamedTensor* t = reply->add_outputs();
  t->set_name(name);
  t->set_datatype("BYTES");
  t->add_shape(static_cast<int64_t>(values.size()));
  for (const auto& v : values) t->add_bytes(v);
}

const proto::NamedTensor* FindOutput(const proto::InferReply& reply, const std::string& name) {
  for (const auto& t : reply.outputs())
    if (t.name() == name) return &t;
  return nullptr;
}

}  // namespace chorus::tasks
