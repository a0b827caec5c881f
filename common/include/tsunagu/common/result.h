// Result<T>: a value or a non-OK Status, in the spirit of absl::StatusOr and small enough to
// become std::expected later.
#ifndef TSUNAGU_COMMON_RESULT_H_
#define TSUNAGU_COMMON_RESULT_H_

#include <cassert>
#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

#include "tsunagu/common/status.h"

namespace tsunagu::common {

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value and from a Status, so that functions can `return value;` or
  // `return NotFoundError("...");`. Constructing from an OK Status is a bug: it becomes kInternal.
  Result(const T& value) : data_(value) {}        // NOLINT(google-explicit-constructor)
  Result(T&& value) : data_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status)                           // NOLINT(google-explicit-constructor)
      : data_(status.ok() ? InternalError("Result constructed from an OK status")
                          : std::move(status)) {}
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Status> && !std::is_same_v<std::decay_t<U>, Result<T>>)
      Result(U&& value)
      : data_(T(std::forward<U>(value))) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(data_); }

  // The error; an OK status when ok().
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(data_); }

  // The value. Calling these when !ok() aborts: check ok() first.
  const T& value() const& { return Checked(); }
  T& value() & { return Checked(); }
  T&& value() && { return std::move(Checked()); }
  const T& operator*() const& { return Checked(); }
  T& operator*() & { return Checked(); }
  T&& operator*() && { return std::move(Checked()); }
  const T* operator->() const { return &Checked(); }
  T* operator->() { return &Checked(); }

  T value_or(T fallback) const& { return ok() ? std::get<T>(data_) : std::move(fallback); }

 private:
  T& Checked() {
    if (!ok()) std::abort();
    return std::get<T>(data_);
  }
  const T& Checked() const {
    if (!ok()) std::abort();
    return std::get<T>(data_);
  }

  std::variant<T, Status> data_;
};

}  // namespace tsunagu::common

// Evaluates `rexpr` (a Result<T>); on error returns its Status, else moves the value into `lhs`.
#define TSUNAGU_ASSIGN_OR_RETURN(lhs, rexpr) \
  TSUNAGU_ASSIGN_OR_RETURN_IMPL_(TSUNAGU_CONCAT_(tsunagu_result_, __LINE__), lhs, rexpr)
#define TSUNAGU_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                   \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()
#define TSUNAGU_CONCAT_(a, b) TSUNAGU_CONCAT_INNER_(a, b)
#define TSUNAGU_CONCAT_INNER_(a, b) a##b

#endif  // TSUNAGU_COMMON_RESULT_H_
