// `doctor`: the checks an on-call person would make, printed as a table in Japanese or English
// with what to do for each failure. Each service assembles its own list of checks (config,
// certificates, secrets, disk, PACS, relay, tunnel, databases, chat credentials); the generic
// ones live here.
#ifndef TSUNAGU_COMMON_DOCTOR_H_
#define TSUNAGU_COMMON_DOCTOR_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/language.h"

namespace tsunagu::common {

enum class CheckLevel { kOk, kWarning, kFailed };

struct CheckResult {
  CheckLevel level = CheckLevel::kOk;
  std::string detail;  // what was found, for people; never an identifying value
  std::string fix;     // what to do about it (empty when ok)
};

// One named check. `name` is shown in the table; `run` must not throw and must return within a
// few seconds (checks that talk to peers carry their own time limits).
struct DoctorCheck {
  std::string name;
  std::function<CheckResult()> run;
};

// Runs every check in order, prints a table to `out`, and returns the exit status for
// monitoring: 0 all ok, 1 warnings only, 2 any failure.
int RunDoctor(const std::vector<DoctorCheck>& checks, Language language, std::ostream& out);

// A configuration that did not load, as one failed row per error line (its message holds one
// problem per line), so `doctor` still prints a table and exits 2.
std::vector<DoctorCheck> ConfigErrorChecks(const std::string& errors, Language language);

// Generic checks. Messages are in `language`.
// A PEM certificate file: readable, parseable, not expired, warning when it expires within
// `warn_within` (30 days by default, as the runbook says).
CheckResult CheckCertificate(const std::filesystem::path& path, const Clock& clock,
                             Language language,
                             std::chrono::hours warn_within = std::chrono::hours(24 * 30));
// A secret file: exists and is not accessible by other users.
CheckResult CheckSecret(const std::filesystem::path& path, Language language);
// Free space on the file system holding `path`: failed below `min_free`, warning below twice that.
CheckResult CheckFreeSpace(const std::filesystem::path& path, std::uint64_t min_free,
                           Language language);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_DOCTOR_H_
