// LeaderLease: which of two coordinators sharing one PostgreSQL job store is
// the active one. The lease is a PostgreSQL session-level advisory lock held
// on a connection of its own: the server releases it the moment that
// connection ends, so a coordinator killed with SIGKILL (its socket closed by
// the kernel) or cut off from the database loses it, and the standby, trying
// every few hundred milliseconds, takes it. No consensus protocol is written
// here: the database decides.
//
// Fencing: the active checks its connection every tick (Check); once it is
// broken the lease may already be someone else's, so the coordinator stops at
// once rather than act beside the new active.
// Not thread-safe (the coordinator's loop owns it).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "common/util/status.h"

namespace chorus::coordinator {

class LeaderLease {
 public:
  // Connects (an error names the URI without its password).
  static Result<std::unique_ptr<LeaderLease>> Connect(const std::string& uri);
  // Blocks until this process holds the lease, trying every 100 ms (and
  // logging once that it stands by); while the database cannot be reached it
  // says so and tries again every second, so a standby outlives a database
  // restart. nullptr when `stop` becomes true first.
  static std::unique_ptr<LeaderLease> WaitUntilHeld(const std::string& uri, const std::atomic<bool>& stop);
  ~LeaderLease();

  // true: this process holds the lease now (it stays held until this object
  // or its connection goes). false: another holds it.
  Result<bool> TryAcquire();
  // OK while the lease is held; Unavailable once its connection is lost.
  Status Check();

 private:
  struct Db;
  LeaderLease(std::string location, std::unique_ptr<Db> db);
  std::string location_;
  std::unique_ptr<Db> db_;
  bool held_ = false;
};

}  // namespace chorus::coordinator
