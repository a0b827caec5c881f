// Small value types with strong names, so a StudyUid cannot be passed where a JobId is wanted.
#ifndef TSUNAGU_COMMON_STRONG_TYPES_H_
#define TSUNAGU_COMMON_STRONG_TYPES_H_

#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace tsunagu::common {

// A value of type T tagged by Tag. Comparable, hashable, explicit to construct.
template <typename Tag, typename T>
class StrongValue {
 public:
  StrongValue() = default;
  explicit StrongValue(T value) : value_(std::move(value)) {}
  const T& value() const { return value_; }
  friend auto operator<=>(const StrongValue&, const StrongValue&) = default;

 private:
  T value_{};
};

// DICOM identifiers. Original (identified) UIDs must never be logged; use them only in memory
// and in the gateway's spool index.
using StudyUid = StrongValue<struct StudyUidTag, std::string>;
using SeriesUid = StrongValue<struct SeriesUidTag, std::string>;
using SopInstanceUid = StrongValue<struct SopInstanceUidTag, std::string>;
// A gateway pipeline job.
using JobId = StrongValue<struct JobIdTag, std::int64_t>;
// A chat thread configured on the gateway, by its configured name.
using ThreadName = StrongValue<struct ThreadNameTag, std::string>;

}  // namespace tsunagu::common

template <typename Tag, typename T>
struct std::hash<tsunagu::common::StrongValue<Tag, T>> {
  size_t operator()(const tsunagu::common::StrongValue<Tag, T>& v) const noexcept {
    return std::hash<T>()(v.value());
  }
};

#endif  // TSUNAGU_COMMON_STRONG_TYPES_H_
