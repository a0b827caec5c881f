#include "tsunagu/common/units.h"

#include <array>
#include <cctype>
#include <cstdio>
#include <limits>

namespace tsunagu::common {
namespace {

// Reads an unsigned decimal integer at the front of `text`; advances `text`.
std::optional<std::uint64_t> TakeInteger(std::string_view& text) {
  std::size_t i = 0;
  std::uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  text.remove_prefix(i);
  return value;
}

std::string_view TakeUnit(std::string_view& text) {
  std::size_t i = 0;
  while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
  std::string_view unit = text.substr(0, i);
  text.remove_prefix(i);
  return unit;
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t total_ms = 0;
  while (!text.empty()) {
    auto number = TakeInteger(text);
    if (!number) return std::nullopt;
    std::string_view unit = TakeUnit(text);
    std::uint64_t factor = 0;
    if (unit == "d") {
      factor = 86'400'000;
    } else if (unit == "h") {
      factor = 3'600'000;
    } else if (unit == "m") {
      factor = 60'000;
    } else if (unit == "s") {
      factor = 1'000;
    } else if (unit == "ms") {
      factor = 1;
    } else {
      return std::nullopt;
    }
    constexpr std::uint64_t kMax =
        static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max());
    if (*number > kMax / factor) return std::nullopt;
    const std::uint64_t part = *number * factor;
    if (total_ms > kMax - part) return std::nullopt;
    total_ms += part;
  }
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(total_ms));
}

std::string FormatDuration(std::chrono::milliseconds d) {
  if (d.count() == 0) return "0s";
  std::string out;
  if (d.count() < 0) {
    out = "-";
    d = -d;
  }
  static constexpr std::array<std::pair<const char*, std::int64_t>, 5> kUnits = {
      {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};
  std::int64_t rest = d.count();
  for (const auto& [name, factor] : kUnits) {
    if (rest >= factor) {
      out += std::to_string(rest / factor) + name;
      rest %= factor;
    }
  }
  return out;
}

std::optional<std::uint64_t> ParseByteSize(std::string_view text) {
  auto number = TakeInteger(text);
  if (!number) return std::nullopt;
  std::string_view unit = TakeUnit(text);
  if (!text.empty()) return std::nullopt;
  std::uint64_t factor = 0;
  if (unit.empty() || unit == "B") {
    factor = 1;
  } else if (unit == "kB" || unit == "KB") {
    factor = 1000ULL;
  } else if (unit == "MB") {
    factor = 1000ULL * 1000;
  } else if (unit == "GB") {
    factor = 1000ULL * 1000 * 1000;
  } else if (unit == "TB") {
    factor = 1000ULL * 1000 * 1000 * 1000;
  } else if (unit == "KiB") {
    factor = 1ULL << 10;
  } else if (unit == "MiB") {
    factor = 1ULL << 20;
  } else if (unit == "GiB") {
    factor = 1ULL << 30;
  } else if (unit == "TiB") {
    factor = 1ULL << 40;
  } else {
    return std::nullopt;
  }
  if (*number > std::numeric_limits<std::uint64_t>::max() / factor) return std::nullopt;
  return *number * factor;
}

std::string FormatByteSize(std::uint64_t bytes) {
  static constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  }
  return buf;
}

}  // namespace tsunagu::common
