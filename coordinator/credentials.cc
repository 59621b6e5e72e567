#include "coordinator/credentials.h"

#include <algorithm>
#include <mutex>

#include "coordinator/names.h"
#include "coordinator/token.h"

namespace chorus::coordinator {

namespace {

// "a_b_c" -> {"a", "b", "c"}
std::vector<std::string> SplitUnderscore(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '_') {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

bool AllDigits(const std::string& s, size_t max) {
  return !s.empty() && s.size() <= max && s.find_first_not_of("0123456789") == std::string::npos;
}

constexpr int kMaxModels = 64;
constexpr size_t kMaxName = 128;
constexpr size_t kMaxToken = 256;

}  // namespace

Credentials::Credentials(CredentialsOptions options)
    : options_(std::move(options)),
      worker_token_("chorus-worker_" + Mac("worker")),
      server_keys_(DerivedKeys("curve:server")),
      worker_keys_(DerivedKeys("curve:worker")) {
  for (auto& c : options_.stored) by_id_[c.id()] = c;
  options_.stored.clear();
}

std::string Credentials::Mac(const std::string& message) const { return HmacSha256Hex(options_.root_secret, message); }

std::string Credentials::RankToken(int64_t job_id, int32_t attempt) const {
  const std::string what = std::to_string(job_id) + "_" + std::to_string(attempt);
  return "chorus-rank_" + what + "_" + Mac("rank:" + what);
}

const std::string& Credentials::WorkerToken() const { return worker_token_; }

net::CurveKeys Credentials::DerivedKeys(const std::string& what) const {
  const std::string hex = Mac(what);
  std::string seed;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) seed.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  Result<net::CurveKeys> keys = net::CurveKeysFromSeed(seed);
  return keys.ok() ? *keys : net::CurveKeys{};
}

net::CurveKeys Credentials::RankKeys(int64_t job_id, int32_t attempt) const {
  return DerivedKeys("curve:rank:" + std::to_string(job_id) + "_" + std::to_string(attempt));
}

Result<Principal> Credentials::Authenticate(const std::string& token) const {
  if (token.empty()) return Unauthenticated("the request carries no token");
  const Status wrong = Unauthenticated("wrong token (or one revoked or expired)");
  if (token.size() > kMaxToken) return wrong;
  if (TokensEqual(options_.root_secret, token)) return Principal{"root", Role::kAdmin, {}, 0, 0};
  const std::vector<std::string> parts = SplitUnderscore(token);
  if (parts[0] == "chorus-worker" && parts.size() == 2) {
    if (!TokensEqual(worker_token_, token)) return wrong;  // on every worker message: computed once
    return Principal{"worker", Role::kWorker, {}, 0, 0, worker_keys_.public_key};
  }
  if (parts[0] == "chorus-rank" && parts.size() == 4 && AllDigits(parts[1], 18) && AllDigits(parts[2], 9)) {
    const int64_t job = std::stoll(parts[1]);
    const int32_t attempt = std::stoi(parts[2]);
    if (!TokensEqual(RankToken(job, attempt), token)) return wrong;
    return Principal{"rank-" + parts[1] + "." + parts[2], Role::kRank, {}, job, attempt, RankKeys(job, attempt).public_key};
  }
  if (parts[0] != "chorus" || parts.size() != 3) return wrong;
  proto::Credential c;
  {
    std::shared_lock lock(mutex_);
    auto it = by_id_.find(parts[1]);
    if (it == by_id_.end()) return wrong;
    c = it->second;
  }
  if (!TokensEqual(c.secret_sha256(), Sha256Hex(parts[2])) || c.revoked()) return wrong;
  if (c.expires_at() > 0 && options_.now() >= c.expires_at()) return wrong;
  ASSIGN_OR_RETURN(Role role, ParseRole(c.role()));
  return Principal{c.id(), role, {c.models().begin(), c.models().end()}, 0, 0};
}

Result<proto::TokenCreated> Credentials::Create(const proto::TokenCreateRequest& request,
                                                const std::string& created_by) {
  RETURN_IF_ERROR(ParseRole(request.role()).status());
  if (request.models_size() > 0 && request.role() != "infer")
    return InvalidArgument("only an infer credential has a model list (this one is " + request.role() + ")");
  if (request.models_size() > kMaxModels)
    return InvalidArgument("at most " + std::to_string(kMaxModels) + " models per credential");
  for (const auto& m : request.models()) RETURN_IF_ERROR(ValidateName("model", m));
  if (!(request.expires_in_s() >= 0) || request.expires_in_s() > 100.0 * 365 * 86400)
    return InvalidArgument("expiry must be between 0 (never) and 100 years");
  if (request.name().size() > kMaxName) return InvalidArgument("a credential's name has at most 128 bytes");
  proto::Credential c;
  std::string secret;
  {
    ASSIGN_OR_RETURN(std::string id, RandomHex(6));
    ASSIGN_OR_RETURN(secret, RandomHex(32));
    c.set_id(id);
  }
  c.set_role(request.role());
  *c.mutable_models() = request.models();
  c.set_name(request.name());
  c.set_created_at(options_.now());
  if (request.expires_in_s() > 0) c.set_expires_at(c.created_at() + request.expires_in_s());
  c.set_created_by(created_by);
  c.set_secret_sha256(Sha256Hex(secret));
  RETURN_IF_ERROR(options_.save(c));
  {
    std::unique_lock lock(mutex_);
    by_id_[c.id()] = c;
  }
  proto::TokenCreated out;
  *out.mutable_credential() = c;
  out.mutable_credential()->clear_secret_sha256();
  out.set_token("chorus_" + c.id() + "_" + secret);
  return out;
}

Status Credentials::Revoke(const std::string& id) {
  proto::Credential c;
  {
    std::shared_lock lock(mutex_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return NotFound("no credential '" + id + "' (chorus token list shows them)");
    c = it->second;
  }
  if (c.revoked()) return Status::Ok();
  c.set_revoked(true);
  RETURN_IF_ERROR(options_.save(c));
  std::unique_lock lock(mutex_);
  by_id_[id] = c;
  return Status::Ok();
}

std::vector<proto::Credential> Credentials::List() const {
  std::vector<proto::Credential> out;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [id, c] : by_id_) out.push_back(c);
  }
  for (auto& c : out) c.clear_secret_sha256();
  std::stable_sort(out.begin(), out.end(),
                   [](const proto::Credential& a, const proto::Credential& b) { return a.created_at() < b.created_at(); });
  return out;
}

}  // namespace chorus::coordinator
