// CURVE: ZeroMQ's encryption and peer authentication (CurveZMQ), for the
// control-plane sockets that leave loopback.
//
// A server socket (the coordinator's job socket, the broker's client and
// worker sockets) holds the coordinator's key pair; every client holds the
// server's public key and a key pair of its own (workers and ranks: keys the
// coordinator gave them; anyone else: a fresh one). Traffic is encrypted and
// the server learns each client's public key. The ZapHandler (ZeroMQ's
// authentication protocol, RFC 27) runs in the server's process: it decides
// per socket domain which client keys may connect at all, and stamps each
// message with the client's public key (its "User-Id"), which PeerKey reads
// back so the coordinator can check that a worker or rank token arrives from
// the key it was issued with.
//
// Keys are Z85 text (40 characters). Key pairs may be derived from a 32-byte
// seed, so a coordinator can recompute them instead of storing them.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <atomic>
#include <thread>

#include <zmq.hpp>

#include "common/util/status.h"

namespace chorus::net {

struct CurveKeys {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
  bool empty() const { return public_key.empty(); }
};

// What a client needs: the server's public key ("" : no CURVE) and its own pair
// (empty: a fresh one per socket).
struct CurveClient {
  std::string server_key;
  CurveKeys own;
  bool enabled() const { return !server_key.empty(); }
};

// A fresh random key pair.
Result<CurveKeys> NewCurveKeys();
// The key pair whose secret key is these 32 bytes.
Result<CurveKeys> CurveKeysFromSeed(const std::string& seed);
// Whether `key` is a well-formed Z85 CURVE key (40 characters that decode).
bool IsCurveKey(const std::string& key);

// Makes `socket` (not yet bound) a CURVE server with `keys`; its clients are
// put to the ZapHandler under `domain` (start the handler first: without one,
// libzmq lets every CURVE client in).
Status MakeCurveServer(zmq::socket_t& socket, const CurveKeys& keys, const std::string& domain);
// Makes `socket` (not yet connected) a CURVE client of `client` (no-op when not enabled).
Status MakeCurveClient(zmq::socket_t& socket, const CurveClient& client);

// From the environment: CHORUS_CURVE_SERVER_KEY, with CHORUS_CURVE_PUBLIC_KEY
// and CHORUS_CURVE_SECRET_KEY when the process was given a key pair. Not
// enabled when the server key is unset; InvalidArgument for a malformed key.
Result<CurveClient> CurveClientFromEnvironment();

// The client's public key a ZapHandler stamped on `message` ("" : none).
std::string PeerKey(const zmq::message_t& message);

// The process's ZAP handler (one per process: it binds ZeroMQ's well-known
// inproc address in SharedContext). `allow(domain, public_key)` decides; it
// runs on the handler's thread. Stopped and joined on destruction.
class ZapHandler {
 public:
  using Policy = std::function<bool(const std::string& domain, const std::string& public_key)>;
  static Result<std::unique_ptr<ZapHandler>> Start(Policy allow);
  ~ZapHandler();

 private:
  ZapHandler() = default;
  void Run(Policy allow);
  std::unique_ptr<zmq::socket_t> socket_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

}  // namespace chorus::net
