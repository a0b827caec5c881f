// `tsunagu-relay doctor`: every check an on-call person would make on the relay.
#ifndef TSUNAGU_RELAY_DOCTOR_H_
#define TSUNAGU_RELAY_DOCTOR_H_

#include <ostream>
#include <string>

#include "tsunagu/common/language.h"

namespace tsunagu::relay {

// Loads `config_path` and runs the checks; prints the table to `out`. Returns 0 all ok, 1
// warnings, 2 failures (a config that does not load is a failure, shown as its own rows).
int RunDoctor(const std::string& config_path, common::Language fallback_language,
              std::ostream& out);

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_DOCTOR_H_
