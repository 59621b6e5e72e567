// Credentials: the coordinator's tokens and what they map to (a Principal).
//
// Three kinds of token are accepted:
//   - the bootstrap secret (STATE_DIR/token or the config's `token`): admin,
//     principal id "root". It is what the coordinator's own host uses.
//   - issued credentials, "chorus_<id>_<secret>": made by an admin with a role
//     (admin, submit, infer, worker), an optional model allow-list and expiry.
//     The store keeps the SHA-256 of the secret, never the secret; a token is
//     checked by recomputing it and comparing in constant time. Revoked or
//     expired credentials are refused.
//   - derived tokens, "chorus-rank_<job>_<attempt>_<mac>" and
//     "chorus-worker_<mac>": HMAC-SHA256 of the bootstrap secret over what they
//     name, so they need no storage, survive a coordinator restart, and a rank
//     token is worth nothing for another job or attempt.
// CURVE keys are derived the same way (ServerKeys, WorkerKeys, RankKeys).
//
// Authenticate is thread-safe (the broker, gateway and job API call it from
// their threads); Create and Revoke write through `save` first and are meant
// for one thread, the coordinator's loop.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/net/curve.h"
#include "common/proto/job.pb.h"
#include "common/util/status.h"
#include "coordinator/access.h"

namespace chorus::coordinator {

struct CredentialsOptions {
  std::string root_secret;                                   // the bootstrap admin token
  std::vector<proto::Credential> stored;                     // what the store holds now
  std::function<Status(const proto::Credential&)> save;      // insert or replace, durable on return
  std::function<double()> now;                               // seconds since the epoch
};

class Credentials {
 public:
  explicit Credentials(CredentialsOptions options);

  // The principal a token stands for; UNAUTHENTICATED (no token, unknown,
  // wrong secret, revoked, expired) otherwise. Never says which secret part
  // was wrong.
  Result<Principal> Authenticate(const std::string& token) const;

  // A new credential; the reply carries its token, which is never shown again.
  Result<proto::TokenCreated> Create(const proto::TokenCreateRequest& request, const std::string& created_by);
  Status Revoke(const std::string& id);
  // Every issued credential, without secret hashes, oldest first.
  std::vector<proto::Credential> List() const;

  std::string RankToken(int64_t job_id, int32_t attempt) const;
  const std::string& WorkerToken() const;

  // CURVE key pairs derived from the bootstrap secret like the tokens
  // (recomputed, never stored): the coordinator's own (its sockets), the
  // workers', and each rank attempt's. A rank or worker principal names its
  // public key (Principal::curve_key). Empty if libzmq has no CURVE.
  const net::CurveKeys& ServerKeys() const { return server_keys_; }
  const net::CurveKeys& WorkerKeys() const { return worker_keys_; }
  net::CurveKeys RankKeys(int64_t job_id, int32_t attempt) const;

 private:
  std::string Mac(const std::string& message) const;
  net::CurveKeys DerivedKeys(const std::string& what) const;

  CredentialsOptions options_;
  const std::string worker_token_;
  const net::CurveKeys server_keys_, worker_keys_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, proto::Credential> by_id_;
};

}  // namespace chorus::coordinator
