#include "tsunagu/ipsec/command.h"

#include "tsunagu/common/cli.h"
#include "tsunagu/common/file_system.h"
#include "tsunagu/ipsec/tunnel_monitor.h"

namespace tsunagu::ipsec {
namespace {

using common::Pick;

int RenderCommand(Role role, const IpsecCommandLine& command, const config::IpsecOptions& options,
                  common::Language lang, std::ostream& out, std::ostream& err) {
  const std::filesystem::path& dir = command.out_dir;
  const RenderedConfig rendered = Render(options, role, command.config_path);
  if (command.check) {
    common::LocalFileSystem fs;
    auto swanctl = fs.ReadFile(dir / "swanctl.conf");
    auto strongswan = fs.ReadFile(dir / "strongswan.conf");
    if (swanctl.ok() && strongswan.ok() && *swanctl == rendered.swanctl_conf &&
        *strongswan == rendered.strongswan_conf) {
      out << Pick(lang, "IPsec設定は正常で、", "IPsec configuration is valid and ") << dir.string()
          << Pick(lang, " は最新です\n", " is up to date\n");
      return 0;
    }
    err << Pick(lang, "IPsec設定は正常ですが、", "IPsec configuration is valid, but ")
        << dir.string()
        << Pick(lang, " が古いか存在しません。ipsec render を実行してください\n",
                " is missing or out of date; run ipsec render\n");
    return 1;
  }
  common::Status status = WriteRendered(rendered, options, dir);
  if (!status.ok()) {
    err << Pick(lang, "IPsec設定を書き込めません: ", "cannot write the IPsec configuration: ")
        << status.message() << "\n";
    return 1;
  }
  out << Pick(lang, "書き込みました: ", "wrote ") << (dir / "swanctl.conf").string() << ", "
      << (dir / "strongswan.conf").string() << "\n";
  out << Pick(lang, "読み込み: ", "load with: ") << "SWANCTL_DIR=" << dir.string()
      << " swanctl --load-all --uri " << options.vici_socket << "\n";
  return 0;
}

int Status(const config::IpsecOptions& options, common::Language lang, std::ostream& out,
           std::ostream& err) {
  auto state = MakeSwanctlTunnelMonitor(options, std::chrono::seconds(5))->Check();
  if (!state.ok()) {
    err << Pick(lang,
                "IPsecトンネルの状態を取得できません: ", "cannot read the IPsec tunnel state: ")
        << state.status().message() << "\n";
    return 1;
  }
  if (state->up) {
    out << Pick(lang, "IPsecトンネル: 接続中 (", "IPsec tunnel: up (") << state->detail << ")\n";
    return 0;
  }
  out << Pick(lang, "IPsecトンネル: 切断 (", "IPsec tunnel: down (") << state->detail << ")\n";
  return 1;
}

}  // namespace

common::Result<IpsecCommandLine> ParseIpsecCommandLine(const std::vector<std::string>& args,
                                                       const std::string& default_config) {
  common::CliSpec spec{{"--check"}, {"--config", "--out"}, {}};
  auto parsed = common::CliArgs::Parse(args, spec);
  if (!parsed.ok()) return parsed.status();
  const auto& words = parsed->positional();
  if (words.size() != 1 || (words[0] != "render" && words[0] != "status")) {
    return common::InvalidArgumentError(
        "usage: ipsec render [--config FILE] [--out DIR] [--check] | ipsec status [--config FILE]");
  }
  IpsecCommandLine command;
  command.verb = words[0];
  command.config_path = parsed->Option("--config").value_or(default_config);
  if (auto out = parsed->Option("--out")) command.out_dir = *out;
  command.check = parsed->Flag("--check");
  if (command.check && command.verb != "render") {
    return common::InvalidArgumentError("--check goes with ipsec render");
  }
  return command;
}

int RunIpsecCommand(Role role, const IpsecCommandLine& command, const config::IpsecOptions& options,
                    common::Language lang, std::ostream& out, std::ostream& err) {
  if (!options.configured) {
    err << command.config_path
        << Pick(lang, ": [ipsec] セクションがありません (docs/ipsec.md を参照)",
                ": there is no [ipsec] section (see docs/ipsec.md)")
        << "\n";
    return 2;
  }
  if (command.verb == "render") return RenderCommand(role, command, options, lang, out, err);
  return Status(options, lang, out, err);
}

}  // namespace tsunagu::ipsec
