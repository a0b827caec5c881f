#include "tsunagu/common/cli.h"

namespace tsunagu::common {

Result<CliArgs> CliArgs::Parse(const std::vector<std::string>& args, const CliSpec& spec) {
  CliArgs out;
  bool only_positional = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || arg.size() < 2 || arg.rfind("--", 0) != 0) {
      if (!only_positional && arg.size() > 1 && arg[0] == '-' && arg != "-") {
        return InvalidArgumentError("unknown option " + arg);
      }
      out.positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (spec.flags.count(name) > 0) {
      if (value) return InvalidArgumentError(name + " takes no value");
      out.flags_.insert(name);
      continue;
    }
    if (spec.options.count(name) == 0) return InvalidArgumentError("unknown option " + name);
    if (!value) {
      if (i + 1 >= args.size()) return InvalidArgumentError(name + " needs a value");
      value = args[++i];
    }
    if (out.options_.count(name) > 0 && spec.repeatable.count(name) == 0) {
      return InvalidArgumentError(name + " given more than once");
    }
    out.options_.emplace(name, *value);
  }
  return out;
}

std::optional<std::string> CliArgs::Option(std::string_view name) const {
  auto it = options_.find(name);
  if (it == options_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> CliArgs::All(std::string_view name) const {
  std::vector<std::string> out;
  auto [begin, end] = options_.equal_range(name);
  for (auto it = begin; it != end; ++it) out.push_back(it->second);
  return out;
}

}  // namespace tsunagu::common
