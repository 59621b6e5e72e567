#include "coordinator/training/leader_lease.h"

#include <chrono>
#include <thread>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "coordinator/training/postgres_job_store.h"

namespace chorus::coordinator {

namespace {
constexpr int64_t kLeaseKey = 0x63686f7275730001;  // "chorus" 1: one active coordinator per database
}

struct LeaderLease::Db {
  explicit Db(const std::string& uri) : connection(uri) {}
  pqxx::connection connection;
};

LeaderLease::LeaderLease(std::string location, std::unique_ptr<Db> db)
    : location_(std::move(location)), db_(std::move(db)) {}

LeaderLease::~LeaderLease() = default;  // closing the connection releases the lock

Result<std::unique_ptr<LeaderLease>> LeaderLease::Connect(const std::string& uri) {
  try {
    return std::unique_ptr<LeaderLease>(new LeaderLease(RedactedUri(uri), std::make_unique<Db>(uri)));
  } catch (const std::exception& e) {
    return IoError(RedactedUri(uri) + ": cannot connect for the coordinator lease: " + e.what());
  }
}

std::unique_ptr<LeaderLease> LeaderLease::WaitUntilHeld(const std::string& uri, const std::atomic<bool>& stop) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<LeaderLease> lease;
  bool standing_by = false;
  std::string last_error;
  while (!stop) {
    Result<bool> held = false;
    if (!lease) {
      auto connected = Connect(uri);
      if (connected.ok()) lease = std::move(*connected);
      else held = connected.status();
    }
    if (lease) held = lease->TryAcquire();
    if (held.ok() && *held) {
      if (standing_by)
        spdlog::info("taking over as the active coordinator ({} ms after standing by)",
                     std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                         .count());
      return lease;
    }
    if (!held.ok()) {
      if (held.status().message() != last_error) spdlog::warn("{}; trying again every second", held.status().ToString());
      last_error = held.status().message();
      lease.reset();
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (!standing_by) spdlog::info("standby: another coordinator is active; taking over when it stops");
    standing_by = true;
    last_error.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return nullptr;
}

Result<bool> LeaderLease::TryAcquire() {
  if (held_) return true;
  try {
    pqxx::nontransaction query(db_->connection);
    held_ = query.exec_params1("SELECT pg_try_advisory_lock($1)", kLeaseKey)[0].as<bool>();
    return held_;
  } catch (const std::exception& e) {
    return Unavailable(location_ + ": coordinator lease: " + e.what());
  }
}

Status LeaderLease::Check() {
  if (!held_) return FailedPrecondition("the coordinator lease is not held");
  try {
    // A session-level lock lives as long as its session: a working
    // connection means it is still ours.
    pqxx::nontransaction query(db_->connection);
    query.exec("SELECT 1");
    return Status::Ok();
  } catch (const std::exception& e) {
    held_ = false;
    return Unavailable(location_ + ": lost the connection that holds the coordinator lease: " + e.what());
  }
}

}  // namespace chorus::coordinator
