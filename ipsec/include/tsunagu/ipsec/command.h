// The `ipsec` sub-command of both services:
//   tsunagu-gateway ipsec render [--config FILE] [--out DIR] [--check]
//   tsunagu-gateway ipsec status [--config FILE]
// (and the same for tsunagu-relay). main() parses, loads the config and hands over.
#ifndef TSUNAGU_IPSEC_COMMAND_H_
#define TSUNAGU_IPSEC_COMMAND_H_

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "tsunagu/common/language.h"
#include "tsunagu/common/result.h"
#include "tsunagu/config/ipsec_options.h"
#include "tsunagu/ipsec/render.h"

namespace tsunagu::ipsec {

struct IpsecCommandLine {
  std::string verb;                                      // "render" or "status"
  std::string config_path;                               // --config, else the service's default
  std::filesystem::path out_dir = "/etc/tsunagu/ipsec";  // --out
  bool check = false;  // --check: validate and compare, write nothing
};

// Parses the words after "ipsec". kInvalidArgument with a one-line reason for people.
common::Result<IpsecCommandLine> ParseIpsecCommandLine(const std::vector<std::string>& args,
                                                       const std::string& default_config);

// Runs it. Returns the exit status: 0 done (tunnel up for `status`; files up to date for
// --check), 1 tunnel down / files missing or out of date / write failed, 2 no [ipsec] section.
int RunIpsecCommand(Role role, const IpsecCommandLine& command, const config::IpsecOptions& options,
                    common::Language language, std::ostream& out, std::ostream& err);

}  // namespace tsunagu::ipsec

#endif  // TSUNAGU_IPSEC_COMMAND_H_
