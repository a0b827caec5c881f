// The one catalogue of error codes used across Tsunagu.
//
// Each code has a stable name (used in logs and metrics: `code=pacs_busy`), the HTTP status a
// server answers with, and whether retrying the same operation can help by default. A call site
// may narrow retryability (posting a chat message is not idempotent), never widen it.
#ifndef TSUNAGU_COMMON_ERROR_CODE_H_
#define TSUNAGU_COMMON_ERROR_CODE_H_

#include <string_view>

namespace tsunagu::common {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,          // bad input from a person or a peer; fix the input
  kNotFound,                 // the thing asked for does not exist (or is no longer reachable)
  kAlreadyExists,            // a conflicting object exists
  kPermissionDenied,         // authenticated, but not allowed
  kUnauthenticated,          // no or bad credentials
  kFailedPrecondition,       // the system is not in a state where this can work
  kUnavailable,              // a peer is down or unreachable; try again
  kDeadlineExceeded,         // a time limit was reached; try again
  kPacsBusy,                 // the PACS refused for lack of resources; try again later
  kDiskFull,                 // local storage is full or over quota; try again after cleanup
  kResourceExhausted,        // a rate or size limit was hit
  kDeidentificationRefused,  // the anonymizer will not release this instance
  kIntegrity,                // a checksum, signature or verification failed
  kDataLoss,                 // stored data is corrupt or unreadable
  kCancelled,                // the operation was cancelled
  kInternal,                 // a bug; the message says where
};

struct ErrorCodeInfo {
  ErrorCode code;
  std::string_view name;  // snake_case, stable, safe for logs and metric labels
  int http_status;
  bool retryable;
};

// Returns the catalogue entry for `code`. Never fails: every enumerator has an entry.
const ErrorCodeInfo& InfoFor(ErrorCode code);

// The stable snake_case name of `code`.
std::string_view ErrorCodeName(ErrorCode code);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_ERROR_CODE_H_
