#include "tsunagu/common/error_code.h"

#include <array>

namespace tsunagu::common {
namespace {

// Order must follow the enum; a static_assert below checks the count and the test checks order.
constexpr std::array kCatalogue = {
    ErrorCodeInfo{ErrorCode::kOk, "ok", 200, false},
    ErrorCodeInfo{ErrorCode::kInvalidArgument, "invalid_argument", 400, false},
    ErrorCodeInfo{ErrorCode::kNotFound, "not_found", 404, false},
    ErrorCodeInfo{ErrorCode::kAlreadyExists, "already_exists", 409, false},
    ErrorCodeInfo{ErrorCode::kPermissionDenied, "permission_denied", 403, false},
    ErrorCodeInfo{ErrorCode::kUnauthenticated, "unauthenticated", 401, false},
    ErrorCodeInfo{ErrorCode::kFailedPrecondition, "failed_precondition", 412, false},
    ErrorCodeInfo{ErrorCode::kUnavailable, "unavailable", 503, true},
    ErrorCodeInfo{ErrorCode::kDeadlineExceeded, "deadline_exceeded", 504, true},
    ErrorCodeInfo{ErrorCode::kPacsBusy, "pacs_busy", 503, true},
    ErrorCodeInfo{ErrorCode::kDiskFull, "disk_full", 507, true},
    ErrorCodeInfo{ErrorCode::kResourceExhausted, "resource_exhausted", 429, true},
    ErrorCodeInfo{ErrorCode::kDeidentificationRefused, "deidentification_refused", 422, false},
    ErrorCodeInfo{ErrorCode::kIntegrity, "integrity", 422, false},
    ErrorCodeInfo{ErrorCode::kDataLoss, "data_loss", 500, false},
    ErrorCodeInfo{ErrorCode::kCancelled, "cancelled", 499, false},
    ErrorCodeInfo{ErrorCode::kInternal, "internal", 500, false},
};
static_assert(kCatalogue.size() == static_cast<std::size_t>(ErrorCode::kInternal) + 1,
              "every ErrorCode needs a catalogue entry");

}  // namespace

const ErrorCodeInfo& InfoFor(ErrorCode code) {
  const auto index = static_cast<std::size_t>(code);
  if (index >= kCatalogue.size()) return kCatalogue.back();
  return kCatalogue[index];
}

std::string_view ErrorCodeName(ErrorCode code) { return InfoFor(code).name; }

}  // namespace tsunagu::common
