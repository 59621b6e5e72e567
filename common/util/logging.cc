#include "common/util/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace chorus {

void InitLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("chorus");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  auto parsed = spdlog::level::from_str(level);
  spdlog::set_level(parsed == spdlog::level::off && level != "off" ? spdlog::level::info : parsed);
}

}  // namespace chorus
