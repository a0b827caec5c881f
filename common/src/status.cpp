#include "tsunagu/common/status.h"

#include <cerrno>
#include <cstring>

namespace tsunagu::common {

Status::Status(ErrorCode code, std::string message)
    : Status(code, std::move(message), InfoFor(code).retryable) {}

Status::Status(ErrorCode code, std::string message, bool retryable)
    : code_(code),
      message_(code == ErrorCode::kOk ? std::string() : std::move(message)),
      retryable_(code != ErrorCode::kOk && retryable) {}

Status Status::NotRetryable() const {
  Status copy = *this;
  copy.retryable_ = false;
  return copy;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status copy = *this;
  copy.message_ = std::string(context) + ": " + message_;
  return copy;
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(ErrorCodeName(code_)) + ": " + message_;
}

std::ostream& operator<<(std::ostream& os, const Status& status) { return os << status.ToString(); }

Status InvalidArgumentError(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
Status NotFoundError(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
Status AlreadyExistsError(std::string m) { return {ErrorCode::kAlreadyExists, std::move(m)}; }
Status PermissionDeniedError(std::string m) { return {ErrorCode::kPermissionDenied, std::move(m)}; }
Status UnauthenticatedError(std::string m) { return {ErrorCode::kUnauthenticated, std::move(m)}; }
Status FailedPreconditionError(std::string m) {
  return {ErrorCode::kFailedPrecondition, std::move(m)};
}
Status UnavailableError(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
Status DeadlineExceededError(std::string m) { return {ErrorCode::kDeadlineExceeded, std::move(m)}; }
Status PacsBusyError(std::string m) { return {ErrorCode::kPacsBusy, std::move(m)}; }
Status DiskFullError(std::string m) { return {ErrorCode::kDiskFull, std::move(m)}; }
Status ResourceExhaustedError(std::string m) {
  return {ErrorCode::kResourceExhausted, std::move(m)};
}
Status DeidentificationRefusedError(std::string m) {
  return {ErrorCode::kDeidentificationRefused, std::move(m)};
}
Status IntegrityError(std::string m) { return {ErrorCode::kIntegrity, std::move(m)}; }
Status DataLossError(std::string m) { return {ErrorCode::kDataLoss, std::move(m)}; }
Status CancelledError(std::string m) { return {ErrorCode::kCancelled, std::move(m)}; }
Status InternalError(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

Status StatusFromErrno(int err, std::string_view what) {
  std::string message = std::string(what) + ": " + std::strerror(err);
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return DiskFullError(std::move(message));
    case ENOENT:
      return NotFoundError(std::move(message));
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDeniedError(std::move(message));
    case EINTR:
    case EAGAIN:
    case EIO:
      return UnavailableError(std::move(message));
    default:
      return InternalError(std::move(message));
  }
}

}  // namespace tsunagu::common
