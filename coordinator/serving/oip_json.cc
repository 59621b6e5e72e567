#include "coordinator/serving/oip_json.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace chorus::coordinator {

using nlohmann::json;

Status CheckJsonDepth(const std::string& body, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return InvalidArgument("the JSON body nests deeper than " + std::to_string(limit) + " levels");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return Status::Ok();
}

Status ParseInferJson(const std::string& body, proto::InferRequest* out, std::vector<std::string>* outputs) {
  RETURN_IF_ERROR(CheckJsonDepth(body, kMaxJsonDepth));
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("body is not JSON: ") + e.what());
  }
  if (!j.is_object()) return InvalidArgument("body must be a JSON object");
  if (j.contains("id") && j["id"].is_string()) out->set_id(j["id"].get<std::string>());
  if (j.contains("outputs")) {
    if (!j["outputs"].is_array()) return InvalidArgument("outputs must be an array of {\"name\": ...}");
    for (const json& o : j["outputs"]) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string())
        return InvalidArgument("each requested output must be an object with a string \"name\"");
      outputs->push_back(o["name"].get<std::string>());
    }
  }
  if (j.contains("parameters")) {
    const json& p = j["parameters"];
    if (!p.is_object()) return InvalidArgument("parameters must be an object");
    if (p.contains("top_k")) {
      if (!p["top_k"].is_number_integer() || p["top_k"].get<int64_t>() < 1 || p["top_k"].get<int64_t>() > 1000000)
        return InvalidArgument("parameters.top_k must be an integer in [1, 1000000]");
      out->set_top_k(p["top_k"].get<int>());
    }
    if (p.contains("logits")) out->set_want_logits(p["logits"].is_boolean() && p["logits"].get<bool>());
    if (p.contains("timeout_ms")) {
      if (!p["timeout_ms"].is_number_integer() || p["timeout_ms"].get<int64_t>() < 1 ||
          p["timeout_ms"].get<int64_t>() > kMaxTimeoutMs)
        return InvalidArgument("parameters.timeout_ms must be an integer in [1, " + std::to_string(kMaxTimeoutMs) + "]");
      out->set_timeout_ms(p["timeout_ms"].get<int64_t>());
    }
    // Every other parameter is the model's task's (a detector's threshold, ...): numbers only.
    for (const auto& [key, value] : p.items()) {
      if (key == "top_k" || key == "logits" || key == "timeout_ms" || key == "sample_rate") continue;
      if (key.size() > 64) return InvalidArgument("parameter names are at most 64 characters");
      if (!value.is_number()) return InvalidArgument("parameters." + key + " must be a number");
      (*out->mutable_parameters())[key] = value.get<double>();
    }
  }
  if (!j.contains("inputs") || !j["inputs"].is_array() || j["inputs"].size() != 1)
    return InvalidArgument("inputs must be an array with exactly one tensor ('features' or 'audio')");
  const json& t = j["inputs"][0];
  if (!t.is_object() || !t.contains("name") || !t["name"].is_string())
    return InvalidArgument("inputs[0] needs a name");
  const std::string name = t["name"].get<std::string>();
  if (!t.contains("datatype") || !t["datatype"].is_string() || t["datatype"].get<std::string>() != "FP32")
    return InvalidArgument("inputs[0].datatype must be \"FP32\"");
  if (!t.contains("shape") || !t["shape"].is_array()) return InvalidArgument("inputs[0].shape must be an array");
  std::vector<int64_t> shape;
  int64_t elements = 1;
  for (const auto& d : t["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 1) return InvalidArgument("inputs[0].shape must be positive integers");
    shape.push_back(d.get<int64_t>());
    if (shape.back() > kMaxElements / elements)  // before multiplying: no overflow
      return InvalidArgument("inputs[0].shape holds more than " + std::to_string(kMaxElements) + " values");
    elements *= shape.back();
  }
  if (!t.contains("data") || !t["data"].is_array()) return InvalidArgument("inputs[0].data must be an array");
  const json& data = t["data"];
  // OIP allows nested arrays; flatten them row-major.
  std::vector<float> values;
  values.reserve(static_cast<size_t>(elements));
  std::vector<const json*> stack = {&data};
  while (!stack.empty()) {
    const json* v = stack.back();
    stack.pop_back();
    if (v->is_array()) {
      for (auto it = v->rbegin(); it != v->rend(); ++it) stack.push_back(&*it);
    } else if (v->is_number()) {
      const double x = v->get<double>();
      // Beyond float's range the conversion is undefined: refuse it by name.
      if (!(std::fabs(x) <= std::numeric_limits<float>::max()))
        return InvalidArgument("inputs[0].data holds " + std::to_string(x) + ", beyond FP32's range");
      values.push_back(static_cast<float>(x));
    } else {
      return InvalidArgument("inputs[0].data must hold numbers");
    }
  }
  if (static_cast<int64_t>(values.size()) != elements)
    return InvalidArgument("inputs[0] has " + std::to_string(values.size()) + " values but its shape says " +
                           std::to_string(elements));
  if (name == "features") {
    if (shape.size() == 3 && shape[0] == 1) shape.erase(shape.begin());
    if (shape.size() != 2) return InvalidArgument("features must have shape [frames, bins] or [1, frames, bins]");
    proto::Tensor* f = out->mutable_features();
    for (int64_t d : shape) f->add_shape(d);
    f->mutable_data()->Add(values.begin(), values.end());
  } else if (name == "audio") {
    proto::Pcm* pcm = out->mutable_pcm();
    pcm->mutable_samples()->Add(values.begin(), values.end());
    int rate = 16000;
    if (j.contains("parameters") && j["parameters"].contains("sample_rate")) {
      const json& r = j["parameters"]["sample_rate"];
      if (!r.is_number_integer() || r.get<int64_t>() < 1 || r.get<int64_t>() > 1000000)
        return InvalidArgument("parameters.sample_rate must be an integer in [1, 1000000]");
      rate = static_cast<int>(r.get<int64_t>());
    }
    pcm->set_sample_rate(rate);
  } else {
    return InvalidArgument("unknown input '" + name + "' (expected 'features' or 'audio')");
  }
  return Status::Ok();
}

Result<json> ReplyJson(const proto::InferReply& r, const std::vector<std::string>& wanted) {
  for (const auto& name : wanted)
    if (std::none_of(r.outputs().begin(), r.outputs().end(), [&](const auto& t) { return t.name() == name; })) {
      std::string known;
      for (const auto& t : r.outputs()) known += (known.empty() ? "" : ", ") + t.name();
      return InvalidArgument("model '" + r.model() + "' has no output '" + name + "' (it gives " + known + ")");
    }
  json outputs = json::array();
  for (const auto& t : r.outputs()) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), t.name()) == wanted.end()) continue;
    json data = t.datatype() == "BYTES" ? json(std::vector<std::string>(t.bytes().begin(), t.bytes().end()))
                                        : json(std::vector<float>(t.fp32().begin(), t.fp32().end()));
    outputs.push_back({{"name", t.name()},
                       {"datatype", t.datatype()},
                       {"shape", std::vector<int64_t>(t.shape().begin(), t.shape().end())},
                       {"data", std::move(data)}});
  }
  json out = {{"model_name", r.model()},
              {"model_version", std::to_string(r.version())},
              {"outputs", outputs},
              {"parameters",
               {{"queue_us", r.queue_us()},
                {"compute_us", r.compute_us()},
                {"broker_us", r.broker_us()},
                {"batch_size", r.batch_size()},
                {"worker", r.worker()}}}};
  if (!r.id().empty()) out["id"] = r.id();
  return out;
}

}  // namespace chorus::coordinator
