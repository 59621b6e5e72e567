#include "coordinator/dashboard_api.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

namespace chorus::coordinator {

namespace {

// The query parameter `name` as an integer in [lo, hi]; `fallback` when absent.
Result<int64_t> IntParam(const DashboardApi::Query& query, const std::string& name, int64_t fallback, int64_t lo,
                         int64_t hi) {
  auto it = query.find(name);
  if (it == query.end()) return fallback;
  const std::string& text = it->second;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    return InvalidArgument("query parameter '" + name + "' must be an integer in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]; got '" + text + "'");
  return static_cast<int64_t>(v);
}

Result<double> NumberParam(const DashboardApi::Query& query, const std::string& name, double fallback) {
  auto it = query.find(name);
  if (it == query.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !std::isfinite(v))
    return InvalidArgument("query parameter '" + name + "' must be a number; got '" + it->second + "'");
  return v;
}

}  // namespace

std::string ProtoJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

Result<std::string> DashboardApi::Get(const std::string& path, const Query& query) const {
  static const std::regex job_route(R"(/api/v1/jobs/([0-9]{1,18})(/history|/log)?)");
  std::smatch m;
  if (path == "/api/v1/jobs") return Jobs(query);
  if (std::regex_match(path, m, job_route)) {
    const int64_t id = std::stoll(m[1]);
    if (m[2] == "/history") return History(id, query);
    if (m[2] == "/log") return Log(id, query);
    return Job(id);
  }
  if (path == "/api/v1/serving") return Serving();
  if (path == "/api/v1/serving/history") return ServingSamples(query);
  if (path == "/api/v1/cluster") return Cluster();
  return NotFound("no dashboard API at " + path + " (see GET /api/v1/jobs, /api/v1/serving, /api/v1/cluster)");
}

Result<std::string> DashboardApi::Jobs(const Query& query) const {
  ASSIGN_OR_RETURN(int64_t limit, IntParam(query, "limit", 200, 1, 1000));
  ASSIGN_OR_RETURN(int64_t active, IntParam(query, "active", 0, 0, 1));
  proto::Request r;
  r.mutable_list()->set_limit(static_cast<int32_t>(limit));
  r.mutable_list()->set_active_only(active == 1);
  ASSIGN_OR_RETURN(proto::Reply reply, control_(r));
  return ProtoJson(reply.list());
}

Result<std::string> DashboardApi::Job(int64_t id) const {
  proto::Request r;
  r.mutable_status()->set_job_id(id);
  ASSIGN_OR_RETURN(proto::Reply reply, control_(r));
  return ProtoJson(reply.job());
}

Result<std::string> DashboardApi::History(int64_t id, const Query& query) const {
  ASSIGN_OR_RETURN(int64_t after, IntParam(query, "after_step", -1, -1, INT64_MAX));
  proto::Request r;
  r.mutable_history()->set_job_id(id);
  r.mutable_history()->set_after_step(after);
  ASSIGN_OR_RETURN(proto::Reply reply, control_(r));
  return ProtoJson(reply.history());
}

Result<std::string> DashboardApi::Log(int64_t id, const Query& query) const {
  if (query.count("offset") && query.count("tail"))
    return InvalidArgument("ask for the log by 'offset' or by 'tail', not both");
  ASSIGN_OR_RETURN(int64_t offset, IntParam(query, "offset", 0, 0, INT64_MAX));
  ASSIGN_OR_RETURN(int64_t tail, IntParam(query, "tail", 0, 1, 1 << 20));
  proto::Request r;
  r.mutable_logs()->set_job_id(id);
  r.mutable_logs()->set_offset(offset);
  r.mutable_logs()->set_tail(tail);
  ASSIGN_OR_RETURN(proto::Reply reply, control_(r));
  // Text, not protobuf's base64 of the bytes; bytes that are not UTF-8 become U+FFFD.
  const proto::Logs& logs = reply.logs();
  nlohmann::json out = {{"data", logs.data()},
                        {"next_offset", logs.next_offset()},
                        {"job_finished", logs.job_finished()}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> DashboardApi::Serving() const {
  proto::Request r;
  r.set_serving(true);
  ASSIGN_OR_RETURN(proto::Reply reply, control_(r));
  return ProtoJson(reply.serving());
}

Result<std::string> DashboardApi::ServingSamples(const Query& query) const {
  ASSIGN_OR_RETURN(double since, NumberParam(query, "since", 0));
  nlohmann::json out = {{"now", now_()}, {"models", history_ ? history_->Json(since) : nlohmann::json::object()}};
  return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::string> DashboardApi::Cluster() const {
  proto::Request r;
  r.set_cluster(true);
  ASSIGN_OR_RETURN(proto::Reply reply, control_(r));
  return ProtoJson(reply.cluster());
}

}  // namespace chorus::coordinator
