// LogRateLimit: at most `per_second` events a second pass (log lines for
// refusals an attacker can cause at no cost); the rest are counted, and the
// next event that passes takes the count so its line can say how many were
// left out. Not thread-safe: one per thread or under the caller's lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <utility>

namespace chorus {

class LogRateLimit {
 public:
  explicit LogRateLimit(int per_second = 10) : per_second_(per_second) {}

  bool Allow(std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) {
    if (now - window_ >= std::chrono::seconds(1)) {
      window_ = now;
      used_ = 0;
    }
    if (used_ < per_second_) {
      ++used_;
      return true;
    }
    ++dropped_;
    return false;
  }
  // Events refused since the last call.
  int64_t TakeDropped() { return std::exchange(dropped_, 0); }

 private:
  int per_second_;
  std::chrono::steady_clock::time_point window_;
  int used_ = 0;
  int64_t dropped_ = 0;
};

}  // namespace chorus
