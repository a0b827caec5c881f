// Redacted<T>: wraps a value that must never reach a log. Formatting it with fmt/spdlog prints
// "<redacted>"; the value itself stays available through get() for code that needs it.
#ifndef TSUNAGU_COMMON_REDACTED_H_
#define TSUNAGU_COMMON_REDACTED_H_

#include <fmt/format.h>

#include <ostream>
#include <utility>

namespace tsunagu::common {

template <typename T>
class Redacted {
 public:
  explicit Redacted(T value) : value_(std::move(value)) {}
  const T& get() const { return value_; }

 private:
  T value_;
};

template <typename T>
std::ostream& operator<<(std::ostream& os, const Redacted<T>&) {
  return os << "<redacted>";
}

}  // namespace tsunagu::common

template <typename T>
struct fmt::formatter<tsunagu::common::Redacted<T>> : fmt::formatter<fmt::string_view> {
  template <typename Ctx>
  auto format(const tsunagu::common::Redacted<T>&, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format("<redacted>", ctx);
  }
};

#endif  // TSUNAGU_COMMON_REDACTED_H_
