// `tsunagu-gateway doctor`: every check an on-call person would make on the gateway.
#ifndef TSUNAGU_GATEWAY_DOCTOR_H_
#define TSUNAGU_GATEWAY_DOCTOR_H_

#include <ostream>
#include <string>

#include "tsunagu/common/language.h"

namespace tsunagu::gateway {

// Loads `config_path` and runs the checks; prints the table to `out`. Returns 0 all ok, 1
// warnings, 2 failures (a config that does not load is a failure, shown as its own rows).
int RunDoctor(const std::string& config_path, common::Language fallback_language,
              std::ostream& out);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_DOCTOR_H_
