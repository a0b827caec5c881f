// Running a helper program (swanctl, openssl) with a time limit, capturing its output.
#ifndef TSUNAGU_COMMON_SUBPROCESS_H_
#define TSUNAGU_COMMON_SUBPROCESS_H_

#include <chrono>
#include <string>
#include <vector>

#include "tsunagu/common/result.h"

namespace tsunagu::common {

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + signal number when killed by a signal
  std::string out;     // standard output (at most 4 MiB kept)
  std::string err;     // standard error (at most 64 KiB kept)
};

// Runs argv[0] (looked up in PATH) with `argv`, adding `env` ("NAME=value") to the environment,
// standard input from /dev/null. Waits at most `timeout`; then kills the process group and
// returns kDeadlineExceeded. kNotFound when the program does not exist. A non-zero exit is not an
// error here: callers read exit_code.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout,
                                 const std::vector<std::string>& env = {});

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_SUBPROCESS_H_
