// More generic `doctor` checks (see doctor.h): SQLite stores and clock skew.
#ifndef TSUNAGU_COMMON_DOCTOR_CHECKS_H_
#define TSUNAGU_COMMON_DOCTOR_CHECKS_H_

#include <chrono>
#include <filesystem>

#include "tsunagu/common/doctor.h"
#include "tsunagu/common/language.h"
#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::common {

// An SQLite store: PRAGMA quick_check passes (read-only, safe while the service runs) and its
// schema version is one this release knows (`schema` may be null to skip that). A store that does
// not exist yet is ok (the service creates it at its first start).
CheckResult CheckSqliteStore(const std::filesystem::path& database, const Schema* schema,
                             Language language);

// The difference between this machine's clock and a peer's (peer minus ours): warning beyond
// `warn`, failed beyond `fail` (link expiry, certificate validity and receipts depend on both
// clocks agreeing).
CheckResult CheckClockSkew(std::chrono::milliseconds skew, Language language,
                           std::chrono::milliseconds warn = std::chrono::seconds(30),
                           std::chrono::milliseconds fail = std::chrono::minutes(5));

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_DOCTOR_CHECKS_H_
