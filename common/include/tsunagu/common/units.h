// Parsing and printing of durations ("3d", "36h", "90m", "1h30m") and byte sizes ("100GB",
// "512MiB") as they appear in configuration files and on the command line.
#ifndef TSUNAGU_COMMON_UNITS_H_
#define TSUNAGU_COMMON_UNITS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tsunagu::common {

// Parses one or more <integer><unit> groups, units d, h, m, s, ms (e.g. "1h30m"). Returns nullopt
// for anything else, for a zero-length string, and on overflow. "0s" is a valid zero duration.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The shortest exact form of `d` using d/h/m/s/ms, e.g. 259200s -> "3d", 90min -> "1h30m".
std::string FormatDuration(std::chrono::milliseconds d);

// Parses "<integer>[unit]" with units B, kB/KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB,
// TiB (powers of 1024); a bare integer is bytes. Returns nullopt on anything else or overflow.
std::optional<std::uint64_t> ParseByteSize(std::string_view text);

// A human form: "1.5 GiB", "512 B".
std::string FormatByteSize(std::uint64_t bytes);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_UNITS_H_
