// tsunagu-relay: the off-site service. This file is the composition root: the only place
// where concrete implementations are created and wired together.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "doctor.h"
#include "tsunagu/common/cli.h"
#include "tsunagu/common/language.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/common/process.h"
#include "tsunagu/common/units.h"
#include "tsunagu/config/relay_options.h"
#include "tsunagu/ipsec/command.h"

namespace {

using tsunagu::common::Language;
using tsunagu::common::Pick;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr char kDefaultConfig[] = "/etc/tsunagu/relay.toml";

void PrintHelp(Language lang) {
  std::cout << Pick(
      lang,
      "使い方: tsunagu-relay [--config FILE] [--check]\n"
      "\n"
      "院外で動くTsunaguリレー。登録済みゲートウェイから匿名化済みの検査を受け取り、\n"
      "保存期間のあいだ暗号化して保管し、ビューアのリンクを提供します。\n"
      "\n"
      "  --config FILE  設定ファイル (既定: /etc/tsunagu/relay.toml)\n"
      "  --check        設定を検証して終了 (正常なら0、誤りがあれば2)\n"
      "  ipsec render [--out DIR] [--check]  strongSwan設定を生成\n"
      "  ipsec status   IPsecトンネルの状態を表示\n"
      "  doctor         設定・証明書・ディスク・トンネル等を点検 (0 正常, 1 警告, 2 異常)\n"
      "  --version      バージョンを表示\n"
      "  --help         このヘルプを表示\n"
      "\n"
      "言語は TSUNAGU_LANG=en|ja で切り替えられます。\n",
      "Usage: tsunagu-relay [--config FILE] [--check]\n"
      "\n"
      "The Tsunagu relay, off-site: accepts de-identified studies from enrolled\n"
      "gateways, keeps them encrypted for the retention period and serves viewer\n"
      "links.\n"
      "\n"
      "  --config FILE  configuration file (default: /etc/tsunagu/relay.toml)\n"
      "  --check        validate the configuration and exit (0 valid, 2 invalid)\n"
      "  ipsec render [--out DIR] [--check]  write the strongSwan configuration\n"
      "  ipsec status   show the IPsec tunnel state\n"
      "  doctor         check config, certificates, disk, tunnel... (0 ok, 1 warn, 2 failed)\n"
      "  --version      print the version\n"
      "  --help         print this help\n"
      "\n"
      "Set TSUNAGU_LANG=ja|en to switch the language.\n");
}

// tsunagu-relay ipsec render|status ...
int RunIpsec(const std::vector<std::string>& args) {
  auto command = tsunagu::ipsec::ParseIpsecCommandLine(args, kDefaultConfig);
  if (!command.ok()) {
    std::cerr << "tsunagu-relay: " << command.status().message() << "\n";
    return kExitUsage;
  }
  auto options = tsunagu::config::LoadRelayConfig(command->config_path);
  if (!options.ok()) {
    std::cerr << options.status().message() << "\n";
    return kExitUsage;
  }
  return tsunagu::ipsec::RunIpsecCommand(tsunagu::ipsec::Role::kRelay, *command, options->ipsec,
                                         options->language, std::cout, std::cerr);
}

int Run(const std::vector<std::string>& argv) {
  const Language env_lang = tsunagu::common::LanguageFromEnvironment();
  if (!argv.empty() && argv[0] == "doctor") {
    tsunagu::common::CliSpec doctor_spec{{}, {"--config"}, {}};
    auto doctor_args = tsunagu::common::CliArgs::Parse(
        std::vector<std::string>(argv.begin() + 1, argv.end()), doctor_spec);
    if (!doctor_args.ok() || !doctor_args->positional().empty()) {
      std::cerr << "tsunagu-relay: usage: doctor [--config FILE]\n";
      return kExitUsage;
    }
    return tsunagu::relay::RunDoctor(doctor_args->Option("--config").value_or(kDefaultConfig),
                                     env_lang, std::cout);
  }
  if (!argv.empty() && argv[0] == "ipsec") {
    return RunIpsec(std::vector<std::string>(argv.begin() + 1, argv.end()));
  }
  tsunagu::common::CliSpec spec{{"--help", "--version", "--check"}, {"--config"}, {}};
  auto args = tsunagu::common::CliArgs::Parse(argv, spec);
  if (!args.ok()) {
    std::cerr << "tsunagu-relay: " << args.status().message() << " (see --help)\n";
    return kExitUsage;
  }
  if (args->Flag("--help")) {
    PrintHelp(env_lang);
    return kExitOk;
  }
  if (args->Flag("--version")) {
    std::cout << "tsunagu-relay " << tsunagu::common::Version() << "\n";
    return kExitOk;
  }
  if (!args->positional().empty()) {
    std::cerr << "tsunagu-relay: unexpected argument " << args->positional().front()
              << " (see --help)\n";
    return kExitUsage;
  }
  const std::string config_path = args->Option("--config").value_or(kDefaultConfig);
  auto options = tsunagu::config::LoadRelayConfig(config_path);
  if (!options.ok()) {
    std::cerr << options.status().message() << "\n";
    return kExitUsage;
  }
  if (args->Flag("--check")) {
    std::cout << config_path << ": "
              << Pick(options->language, "設定は正常です", "configuration is valid") << "\n";
    return kExitOk;
  }

  tsunagu::common::BlockServiceSignals();
  auto level = tsunagu::common::ParseLogLevel(options->log_level);
  auto log = tsunagu::common::MakeStderrLogger("relay", level.value_or(spdlog::level::info));
  log->info("relay.start version={} config={} upload_port={} viewer_port={} retention={}",
            tsunagu::common::Version(), config_path, options->upload.port, options->viewer.port,
            tsunagu::common::FormatDuration(options->retention.period));
  for (;;) {
    auto sig = tsunagu::common::WaitForSignal(std::chrono::seconds(1));
    if (!sig) continue;
    if (*sig == SIGHUP) {
      log->info("relay.reload_ignored reason=not_supported_yet");
      continue;
    }
    log->info("relay.stop signal={}", *sig);
    return kExitOk;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tsunagu-relay: internal error: %s\n", e.what());
    return kExitFailure;
  }
}
