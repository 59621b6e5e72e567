// Process-wide logging through spdlog. Every binary calls InitLogging once in
// main(); library code then logs with spdlog::info/warn/error directly.
// Thread-safe (spdlog's default logger is).
#pragma once

#include <string>

#include <spdlog/spdlog.h>

namespace chorus {

// level: "trace", "debug", "info", "warn", "error". Unknown names mean "info".
// Messages go to stderr so that stdout stays free for results (tables, JSON).
void InitLogging(const std::string& level = "info");

}  // namespace chorus
