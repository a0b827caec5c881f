// Process-level helpers for the services' main(): termination signals and the version string.
#ifndef TSUNAGU_COMMON_PROCESS_H_
#define TSUNAGU_COMMON_PROCESS_H_

#include <chrono>
#include <optional>
#include <string_view>

namespace tsunagu::common {

// The project version, e.g. "0.1.0".
std::string_view Version();

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (call first in main, before any thread
// starts, so that every thread inherits the mask and only WaitForSignal receives them).
void BlockServiceSignals();

// Waits up to `timeout` for SIGTERM, SIGINT or SIGHUP; returns the signal number, or nullopt on
// timeout. Requires BlockServiceSignals() first.
std::optional<int> WaitForSignal(std::chrono::milliseconds timeout);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_PROCESS_H_
