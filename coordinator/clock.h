// Clock: the coordinator's notion of now, injected so tests can move time by
// hand (heartbeat timeouts, cancel grace) instead of sleeping. Thread-safe.
#pragma once

#include <chrono>

namespace chorus::coordinator {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual double Now() = 0;  // unix seconds
};

class SystemClock : public Clock {
 public:
  double Now() override {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
};

}  // namespace chorus::coordinator
