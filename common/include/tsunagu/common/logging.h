// Logging: one spdlog logger per component, created here and passed in (no default registry).
//
// Messages are a stable event name plus key=value fields:
//   logger->info("job.retry job={} attempt={} code={} after_ms={}", ...);
// Never log a patient name, full patient ID, birth date, accession number or original UID; wrap
// such values in Redacted<T> if they must travel next to a log call.
#ifndef TSUNAGU_COMMON_LOGGING_H_
#define TSUNAGU_COMMON_LOGGING_H_

#include <spdlog/logger.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tsunagu/common/result.h"

namespace tsunagu::common {

// Parses "trace", "debug", "info", "warn", "error", "critical", "off".
Result<spdlog::level::level_enum> ParseLogLevel(std::string_view text);

// A logger named `component` writing to stderr (the journal under systemd) with an ISO-8601
// timestamp, the level and the component. Not registered in spdlog's global registry.
std::shared_ptr<spdlog::logger> MakeStderrLogger(const std::string& component,
                                                 spdlog::level::level_enum level);

// A logger named `component` writing to `sinks` (tests capture every sink this way).
std::shared_ptr<spdlog::logger> MakeLogger(const std::string& component,
                                           std::vector<spdlog::sink_ptr> sinks,
                                           spdlog::level::level_enum level);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_LOGGING_H_
