// CHORUS_CHECK(cond) << "why": aborts with file:line when an invariant that the
// code itself guarantees is broken. Never use it for input a user can get wrong;
// return a Status for that.
#pragma once

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace chorus::internal {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* cond) {
    stream_ << file << ":" << line << ": check failed: " << cond << " ";
  }
  [[noreturn]] ~CheckFailure() {
    std::cerr << stream_.str() << std::endl;
    std::abort();
  }
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

// Turns the streamed message into a void expression (binds after operator<<).
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace chorus::internal

// One expression, so it is safe as the body of an unbraced if/else.
#define CHORUS_CHECK(cond) \
  (cond) ? (void)0         \
         : ::chorus::internal::Voidify() & ::chorus::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()
