#include "coordinator/client/submit_limits.h"

#include <google/protobuf/stubs/common.h>
#include <nlohmann/json.hpp>

namespace chorus::coordinator {

namespace {

bool IsUtf8(const std::string& s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(s.data(), static_cast<int>(s.size()));
}

std::string Bytes(size_t n) { return std::to_string(n) + " bytes"; }

}  // namespace

Status CheckJobName(const std::string& name) {
  if (name.empty()) return InvalidArgument("the job name is empty");
  if (name.size() > kMaxJobNameBytes)
    return InvalidArgument("the job name is " + Bytes(name.size()) + "; at most " + std::to_string(kMaxJobNameBytes));
  if (!IsUtf8(name)) return InvalidArgument("the job name is not UTF-8 text");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) return InvalidArgument("the job name holds a control character");
  return Status::Ok();
}

Status CheckSubmitRequest(const proto::SubmitRequest& r) {
  if (static_cast<int64_t>(r.spec_yaml().size()) > kMaxJobFileBytes)
    return InvalidArgument("the job file is " + Bytes(r.spec_yaml().size()) + "; at most " +
                           Bytes(kMaxJobFileBytes) + " (1 MiB)");
  if (!r.name().empty()) RETURN_IF_ERROR(CheckJobName(r.name()));
  for (const auto& [field, value] : {std::pair<const char*, const std::string*>{"the job file's path", &r.spec_path()},
                                     {"the working directory", &r.workdir()}}) {
    if (value->size() > kMaxPathBytes)
      return InvalidArgument(std::string(field) + " is " + Bytes(value->size()) + "; at most " +
                             std::to_string(kMaxPathBytes));
    if (!IsUtf8(*value)) return InvalidArgument(std::string(field) + " is not UTF-8 text");
  }
  if (r.worker_args_size() > kMaxWorkerArgs)
    return InvalidArgument(std::to_string(r.worker_args_size()) + " worker arguments; at most " +
                           std::to_string(kMaxWorkerArgs));
  for (const auto& a : r.worker_args())
    if (a.size() > kMaxWorkerArgBytes || !IsUtf8(a))
      return InvalidArgument("a worker argument is over " + std::to_string(kMaxWorkerArgBytes) +
                             " bytes or not UTF-8 text");
  if (r.request_id().size() > kMaxRequestIdBytes || !IsUtf8(r.request_id()))
    return InvalidArgument("the request id is over " + std::to_string(kMaxRequestIdBytes) + " bytes or not UTF-8 text");
  if (r.max_restarts() < -1)
    return InvalidArgument("max_restarts " + std::to_string(r.max_restarts()) +
                           " is not a count (0 or more; -1 takes the coordinator's default)");
  return Status::Ok();
}

std::string ValidUtf8(const std::string& text) {
  if (IsUtf8(text)) return text;
  // nlohmann's serializer replaces what is not UTF-8 with U+FFFD; parsing
  // its output gives the repaired text back.
  const std::string quoted = nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return nlohmann::json::parse(quoted).get<std::string>();
}

}  // namespace chorus::coordinator
