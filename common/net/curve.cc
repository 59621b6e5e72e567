#include "common/net/curve.h"

#include <cstdlib>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/net/zmq_channel.h"
#include "common/util/rate_limit.h"

namespace chorus::net {

namespace {

constexpr size_t kZ85KeyLength = 40;
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

Result<CurveKeys> NewCurveKeys() {
  char pub[kZ85KeyLength + 1] = {}, sec[kZ85KeyLength + 1] = {};
  if (zmq_curve_keypair(pub, sec) != 0)
    return Unavailable(std::string("cannot make a CURVE key pair: ") + zmq_strerror(zmq_errno()));
  return CurveKeys{pub, sec};
}

Result<CurveKeys> CurveKeysFromSeed(const std::string& seed) {
  if (seed.size() != 32) return InvalidArgument("a CURVE seed is 32 bytes, not " + std::to_string(seed.size()));
  char sec[kZ85KeyLength + 1] = {}, pub[kZ85KeyLength + 1] = {};
  if (!zmq_z85_encode(sec, reinterpret_cast<const uint8_t*>(seed.data()), seed.size()) || zmq_curve_public(pub, sec) != 0)
    return Unavailable(std::string("cannot derive a CURVE key pair: ") + zmq_strerror(zmq_errno()));
  return CurveKeys{pub, sec};
}

bool IsCurveKey(const std::string& key) {
  if (key.size() != kZ85KeyLength) return false;
  uint8_t raw[32];
  return zmq_z85_decode(raw, key.c_str()) != nullptr;
}

Status MakeCurveServer(zmq::socket_t& socket, const CurveKeys& keys, const std::string& domain) {
  try {
    socket.set(zmq::sockopt::curve_server, true);
    socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
    socket.set(zmq::sockopt::zap_domain, domain);
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("cannot make a CURVE server: ") + e.what());
  }
  return Status::Ok();
}

Status MakeCurveClient(zmq::socket_t& socket, const CurveClient& client) {
  if (!client.enabled()) return Status::Ok();
  CurveKeys own = client.own;
  if (own.empty()) {
    ASSIGN_OR_RETURN(own, NewCurveKeys());
  }
  try {
    socket.set(zmq::sockopt::curve_serverkey, client.server_key);
    socket.set(zmq::sockopt::curve_publickey, own.public_key);
    socket.set(zmq::sockopt::curve_secretkey, own.secret_key);
  } catch (const zmq::error_t& e) {
    return InvalidArgument(std::string("cannot make a CURVE client (malformed key?): ") + e.what());
  }
  return Status::Ok();
}

Result<CurveClient> CurveClientFromEnvironment() {
  CurveClient out;
  out.server_key = Env("CHORUS_CURVE_SERVER_KEY");
  out.own = {Env("CHORUS_CURVE_PUBLIC_KEY"), Env("CHORUS_CURVE_SECRET_KEY")};
  if (out.server_key.empty()) return CurveClient{};
  if (!IsCurveKey(out.server_key))
    return InvalidArgument("CHORUS_CURVE_SERVER_KEY is not a CURVE public key (40 characters of Z85)");
  if (out.own.public_key.empty() != out.own.secret_key.empty() ||
      (!out.own.empty() && (!IsCurveKey(out.own.public_key) || !IsCurveKey(out.own.secret_key))))
    return InvalidArgument("CHORUS_CURVE_PUBLIC_KEY and CHORUS_CURVE_SECRET_KEY must both be CURVE keys, or both unset");
  return out;
}

std::string PeerKey(const zmq::message_t& message) {
  const char* id = zmq_msg_gets(const_cast<zmq_msg_t*>(message.handle()), "User-Id");
  return id ? id : "";
}

Result<std::unique_ptr<ZapHandler>> ZapHandler::Start(Policy allow) {
  std::unique_ptr<ZapHandler> handler(new ZapHandler());
  handler->socket_ = std::make_unique<zmq::socket_t>(SharedContext(), zmq::socket_type::rep);
  try {
    handler->socket_->set(zmq::sockopt::linger, 0);
    handler->socket_->bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return Unavailable(std::string("cannot start the ZAP handler: ") + e.what());
  }
  handler->thread_ = std::thread([h = handler.get(), allow = std::move(allow)] { h->Run(allow); });
  return handler;
}

ZapHandler::~ZapHandler() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void ZapHandler::Run(Policy allow) {
  LogRateLimit refusals(10);  // refusals cost an attacker nothing; the log must not grow with them
  while (!stop_.load()) {
    zmq::pollitem_t item{static_cast<void*>(*socket_), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      // RFC 27: version, request id, domain, address, identity, mechanism, credentials...
      std::vector<zmq::message_t> frames;
      do {
        zmq::message_t frame;
        (void)socket_->recv(frame, zmq::recv_flags::none);
        frames.push_back(std::move(frame));
      } while (socket_->get(zmq::sockopt::rcvmore));
      std::string code = "400", text = "refused", user;
      if (frames.size() >= 7 && frames[0].to_string() == "1.0" && frames[5].to_string() == "CURVE" &&
          frames[6].size() == 32) {
        char key[kZ85KeyLength + 1] = {};
        zmq_z85_encode(key, static_cast<const uint8_t*>(frames[6].data()), 32);
        const std::string domain = frames[2].to_string();
        if (allow(domain, key)) {
          code = "200", text = "OK", user = key;
        } else if (refusals.Allow()) {
          const int64_t unlogged = refusals.TakeDropped();
          spdlog::warn("CURVE: refused key {} on {} from {}{}", key, domain, frames[3].to_string(),
                       unlogged ? " (" + std::to_string(unlogged) + " more refusals not logged)" : "");
        }
      }
      const std::string version = "1.0", request_id = frames.size() > 1 ? frames[1].to_string() : "";
      socket_->send(zmq::buffer(version), zmq::send_flags::sndmore);
      socket_->send(zmq::buffer(request_id), zmq::send_flags::sndmore);
      socket_->send(zmq::buffer(code), zmq::send_flags::sndmore);
      socket_->send(zmq::buffer(text), zmq::send_flags::sndmore);
      socket_->send(zmq::buffer(user), zmq::send_flags::sndmore);
      socket_->send(zmq::message_t(), zmq::send_flags::none);  // metadata: none
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) return;
      spdlog::warn("ZAP handler: {}", e.what());
    }
  }
}

}  // namespace chorus::net
