// A small command-line parser for Tsunagu's programs: sub-commands, "--name value",
// "--name=value", boolean flags and positional arguments. Errors are for people, one line.
#ifndef TSUNAGU_COMMON_CLI_H_
#define TSUNAGU_COMMON_CLI_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tsunagu/common/result.h"

namespace tsunagu::common {

struct CliSpec {
  std::set<std::string, std::less<>> flags;       // e.g. "--help", take no value
  std::set<std::string, std::less<>> options;     // e.g. "--config", take one value
  std::set<std::string, std::less<>> repeatable;  // subset of options that may repeat
};

class CliArgs {
 public:
  // Parses argv[1..]. Arguments after "--" are positional. kInvalidArgument for an unknown
  // option, a missing value, or a non-repeatable option given twice.
  static Result<CliArgs> Parse(const std::vector<std::string>& args, const CliSpec& spec);

  bool Flag(std::string_view name) const { return flags_.count(name) > 0; }
  std::optional<std::string> Option(std::string_view name) const;
  std::vector<std::string> All(std::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::set<std::string, std::less<>> flags_;
  std::multimap<std::string, std::string, std::less<>> options_;
  std::vector<std::string> positional_;
};

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_CLI_H_
