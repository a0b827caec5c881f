// Status: the outcome of an operation that can fail, in the spirit of absl::Status.
//
// A Status is either OK or carries an ErrorCode, a message for people, and whether a retry can
// help. Messages must never contain patient-identifying values (names, full IDs, birth dates,
// accession numbers, original UIDs): they reach logs, chat and HTTP answers.
#ifndef TSUNAGU_COMMON_STATUS_H_
#define TSUNAGU_COMMON_STATUS_H_

#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "tsunagu/common/error_code.h"

namespace tsunagu::common {

class [[nodiscard]] Status {
 public:
  // An OK status.
  Status() = default;
  // A status with `code`; retryable() defaults to the catalogue's value for `code`.
  Status(ErrorCode code, std::string message);
  Status(ErrorCode code, std::string message, bool retryable);

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  bool retryable() const { return retryable_; }

  // Returns a copy that is never retryable (for non-idempotent call sites).
  Status NotRetryable() const;
  // Returns a copy whose message is "`context`: message()".
  Status WithContext(std::string_view context) const;

  // "ok", or "<code name>: <message>".
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) = default;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  bool retryable_ = false;
};

std::ostream& operator<<(std::ostream& os, const Status& status);

// Shorthands, one per code.
Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status PermissionDeniedError(std::string message);
Status UnauthenticatedError(std::string message);
Status FailedPreconditionError(std::string message);
Status UnavailableError(std::string message);
Status DeadlineExceededError(std::string message);
Status PacsBusyError(std::string message);
Status DiskFullError(std::string message);
Status ResourceExhaustedError(std::string message);
Status DeidentificationRefusedError(std::string message);
Status IntegrityError(std::string message);
Status DataLossError(std::string message);
Status CancelledError(std::string message);
Status InternalError(std::string message);

// Converts errno (as set by a failed POSIX call) into a Status: ENOSPC/EDQUOT become kDiskFull,
// ENOENT kNotFound, EACCES/EPERM kPermissionDenied, others kInternal.
Status StatusFromErrno(int err, std::string_view what);

}  // namespace tsunagu::common

// Propagates a non-OK Status from an expression returning Status.
#define TSUNAGU_RETURN_IF_ERROR(expr)                   \
  do {                                                  \
    ::tsunagu::common::Status tsunagu_status_ = (expr); \
    if (!tsunagu_status_.ok()) return tsunagu_status_;  \
  } while (false)

#endif  // TSUNAGU_COMMON_STATUS_H_
