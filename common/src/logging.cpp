#include "tsunagu/common/logging.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace tsunagu::common {

Result<spdlog::level::level_enum> ParseLogLevel(std::string_view text) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
      {"off", spdlog::level::off}};
  for (const auto& [name, level] : kLevels) {
    if (text == name) return level;
  }
  return InvalidArgumentError("unknown log level");
}

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& component,
                                           std::vector<spdlog::sink_ptr> sinks,
                                           spdlog::level::level_enum level) {
  auto logger = std::make_shared<spdlog::logger>(component, sinks.begin(), sinks.end());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %n %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  return logger;
}

std::shared_ptr<spdlog::logger> MakeStderrLogger(const std::string& component,
                                                 spdlog::level::level_enum level) {
  return MakeLogger(component, {std::make_shared<spdlog::sinks::stderr_sink_mt>()}, level);
}

}  // namespace tsunagu::common
