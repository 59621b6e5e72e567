#include "coordinator/cli/token_commands.h"

#include <cmath>
#include <cstdio>
#include <ctime>

#include "coordinator/cli/job_commands.h"

namespace chorus::cli {

Result<double> ParseDuration(const std::string& text) {
  const Status bad = InvalidArgument("'" + text + "' is not a duration (a number followed by s, m, h or d: 30d)");
  if (text.empty() || text.size() > 16) return bad;
  double unit = 1;
  std::string number = text;
  switch (text.back()) {
    case 's': unit = 1; number.pop_back(); break;
    case 'm': unit = 60; number.pop_back(); break;
    case 'h': unit = 3600; number.pop_back(); break;
    case 'd': unit = 86400; number.pop_back(); break;
    default: break;
  }
  if (number.empty() || number.find_first_not_of("0123456789.") != std::string::npos) return bad;
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (*end != '\0' || !std::isfinite(value) || value <= 0) return bad;
  return value * unit;
}

void TokenCommands::Register(CLI::App& app) {
  CLI::App* token = app.add_subcommand("token", "Manage credentials (admin): tokens with a role, for teams and services");
  token->require_subcommand(1);
  create_ = token->add_subcommand(
      "create", "Issue a credential and print its token (shown only now). Roles: admin (everything), submit (submit "
                "and control its own jobs), infer (inference on --models, or all), worker (register serving workers)");
  create_->add_option("--role", role_, "admin, submit, infer or worker")->required();
  create_->add_option("--models", models_, "infer: the models it may use (comma-separated; default all)")
      ->delimiter(',');
  create_->add_option("--expires", expires_, "valid for this long: 90s, 15m, 12h, 30d (default: until revoked)");
  create_->add_option("--name", name_, "who or what it is for (shown by list)");
  list_ = token->add_subcommand("list", "The credentials issued, with role, models, expiry and whether revoked");
  list_->add_option("--output", output_, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  revoke_ = token->add_subcommand("revoke", "Revoke a credential: its token is refused from now on");
  revoke_->add_option("id", id_, "the credential's id (chorus token list)")->required();
}

std::optional<int> TokenCommands::Run() {
  if (create_ && create_->parsed()) return Create();
  if (list_ && list_->parsed()) return List();
  if (revoke_ && revoke_->parsed()) return Revoke();
  return std::nullopt;
}

int TokenCommands::Create() {
  proto::Request r;
  auto* c = r.mutable_token_create();
  c->set_role(role_);
  for (const auto& m : models_) c->add_models(m);
  c->set_name(name_);
  if (!expires_.empty()) {
    Result<double> seconds = ParseDuration(expires_);
    if (!seconds.ok()) return FailWith(seconds.status().WithContext("--expires"));
    c->set_expires_in_s(*seconds);
  }
  auto client = JobClient::Connect(connect_);
  if (!client.ok()) return FailWith(client.status());
  auto reply = client->Call(r);
  if (!reply.ok()) return FailWith(reply.status());
  const proto::Credential& made = reply->token_created().credential();
  std::fprintf(stderr, "credential %s (role %s) created; its token is shown only now:\n", made.id().c_str(),
               made.role().c_str());
  std::printf("%s\n", reply->token_created().token().c_str());
  return 0;
}

namespace {

std::string Time(double t) {
  if (t <= 0) return "never";
  char buf[32];
  const std::time_t s = static_cast<std::time_t>(t);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::gmtime(&s));
  return buf;
}

}  // namespace

int TokenCommands::List() {
  auto client = JobClient::Connect(connect_);
  if (!client.ok()) return FailWith(client.status());
  proto::Request r;
  r.set_token_list(true);
  auto reply = client->Call(r);
  if (!reply.ok()) return FailWith(reply.status());
  if (output_ == "json") {
    std::printf("%s\n", ToJson(reply->credentials()).c_str());
    return 0;
  }
  std::printf("%-12s  %-7s  %-8s  %-16s  %-16s  %-12s  %s\n", "ID", "ROLE", "STATE", "CREATED (UTC)", "EXPIRES",
              "MODELS", "NAME");
  for (const auto& c : reply->credentials().credentials()) {
    std::string models;
    for (const auto& m : c.models()) models += (models.empty() ? "" : ",") + m;
    const bool expired = c.expires_at() > 0 && c.expires_at() <= static_cast<double>(std::time(nullptr));
    std::printf("%-12s  %-7s  %-8s  %-16s  %-16s  %-12s  %s\n", c.id().c_str(), c.role().c_str(),
                c.revoked() ? "revoked" : expired ? "expired" : "active", Time(c.created_at()).c_str(),
                Time(c.expires_at()).c_str(), models.empty() ? (c.role() == "infer" ? "all" : "-") : models.c_str(),
                c.name().c_str());
  }
  return 0;
}

int TokenCommands::Revoke() {
  auto client = JobClient::Connect(connect_);
  if (!client.ok()) return FailWith(client.status());
  proto::Request r;
  r.set_token_revoke(id_);
  auto reply = client->Call(r);
  if (!reply.ok()) return FailWith(reply.status());
  std::printf("credential %s revoked\n", id_.c_str());
  return 0;
}

}  // namespace chorus::cli
