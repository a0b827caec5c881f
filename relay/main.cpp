// tsunagu-relay: the off-site service. This file is the composition root: the only place
// where concrete implementations are created and wired together.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "admin.h"
#include "backup.h"
#include "chat_thumbnails.h"
#include "doctor.h"
#include "gateway_contacts.h"
#include "http_server.h"
#include "relay_metrics.h"
#include "relay_service.h"
#include "tsunagu/common/cli.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/language.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/common/process.h"
#include "tsunagu/common/reloadable_certificate.h"
#include "tsunagu/common/units.h"
#include "tsunagu/config/relay_options.h"
#include "tsunagu/ipsec/command.h"
#include "tsunagu/retention/index_report.h"
#include "tsunagu/retention/study_store.h"

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
      "        tsunagu-relay [--config FILE] purge --now\n"
      "        tsunagu-relay [--config FILE] revoke STUDY_UID\n"
      "        tsunagu-relay [--config FILE] audit STUDY_UID\n"
      "\n"
      "院外で動くTsunaguリレー。登録済みゲートウェイから匿名化済みの検査を受け取り、\n"
      "保存期間のあいだ暗号化して保管し、ビューアのリンクを提供します。\n"
      "\n"
      "  purge --now    期限切れの検査を今すぐ削除 (鍵を先に破棄) し、削除記録を表示\n"
      "  revoke STUDY   検査のリンクをすべて無効化\n"
      "  audit STUDY    検査のアクセス記録を表示\n"
      "  studies        使用量・検査 (期限順)・削除記録を表示\n"
      "  backup FILE    検査インデックスを FILE にコピー (稼働中でも安全、鍵は含まない)\n"
      "  restore FILE   バックアップを戻す (先にサービスを停止、期限切れの検査は戻らない)\n"
      "  ipsec render [--out DIR] [--check]  strongSwan設定を生成\n"
      "  ipsec status   IPsecトンネルの状態を表示\n"
      "  doctor         設定・証明書・ディスク・トンネル等を点検 (0 正常, 1 警告, 2 異常)\n"
      "  --config FILE  設定ファイル (既定: /etc/tsunagu/relay.toml)\n"
      "  --check        設定を検証して終了 (正常なら0、誤りがあれば2)\n"
      "  --version      バージョンを表示\n"
      "  --help         このヘルプを表示\n"
      "\n"
      "言語は TSUNAGU_LANG=en|ja で切り替えられます。\n",
      "Usage: tsunagu-relay [--config FILE] [--check]\n"
      "       tsunagu-relay [--config FILE] purge --now\n"
      "       tsunagu-relay [--config FILE] revoke STUDY_UID\n"
      "       tsunagu-relay [--config FILE] audit STUDY_UID\n"
      "\n"
      "The Tsunagu relay, off-site: accepts de-identified studies from enrolled\n"
      "gateways, keeps them encrypted for the retention period and serves viewer\n"
      "links.\n"
      "\n"
      "  purge --now    delete expired studies now (key first) and print the receipts\n"
      "  revoke STUDY   revoke every link of a study\n"
      "  audit STUDY    print the access log of a study\n"
      "  studies        show quota use, studies by expiry and deletion receipts\n"
      "  backup FILE    copy the study index to FILE (safe while running; no keys)\n"
      "  restore FILE   put a backup back (stop the service first; expired studies stay gone)\n"
      "  ipsec render [--out DIR] [--check]  write the strongSwan configuration\n"
      "  ipsec status   show the IPsec tunnel state\n"
      "  doctor         check config, certificates, disk, tunnel... (0 ok, 1 warn, 2 failed)\n"
      "  --config FILE  configuration file (default: /etc/tsunagu/relay.toml)\n"
      "  --check        validate the configuration and exit (0 valid, 2 invalid)\n"
      "  --version      print the version\n"
      "  --help         print this help\n"
      "\n"
      "Set TSUNAGU_LANG=ja|en to switch the language.\n");
}

std::string Iso8601(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

tsunagu::common::Result<std::shared_ptr<tsunagu::retention::StudyStore>> OpenStore(
    const tsunagu::config::RelayOptions& o, std::shared_ptr<tsunagu::common::Clock> clock,
    std::shared_ptr<spdlog::logger> logger) {
  tsunagu::retention::StoreOptions so;
  so.data_directory = o.store.data_directory;
  so.key_directory = o.store.key_directory;
  so.quota_bytes = o.store.quota_bytes;
  so.retention = o.retention.period;
  so.access_code_max_failures = o.links.access_code_max_failures;
  TSUNAGU_ASSIGN_OR_RETURN(
      auto store, tsunagu::retention::StudyStore::Open(so, {std::move(clock), std::move(logger)}));
  return std::shared_ptr<tsunagu::retention::StudyStore>(std::move(store));
}

int RunCommand(const std::string& command, const tsunagu::common::CliArgs& args,
               const tsunagu::config::RelayOptions& options) {
  auto level = tsunagu::common::ParseLogLevel(options.log_level);
  auto log = tsunagu::common::MakeStderrLogger("relay", level.value_or(spdlog::level::info));
  auto clock = std::make_shared<tsunagu::common::SystemClock>();
  auto store = OpenStore(options, clock, log);
  if (!store.ok()) {
    std::cerr << "tsunagu-relay: " << store.status().message() << "\n";
    return kExitFailure;
  }
  const Language lang = options.language;
  const auto& pos = args.positional();
  if (command == "purge") {
    if (!args.Flag("--now") || pos.size() != 1) {
      std::cerr << "tsunagu-relay: purge needs --now (see --help)\n";
      return kExitUsage;
    }
    auto receipts = (*store)->Purge();
    if (!receipts.ok()) {
      std::cerr << "tsunagu-relay: " << receipts.status().message() << "\n";
      return kExitFailure;
    }
    for (const auto& r : *receipts) {
      std::cout << r.study_uid << " " << Iso8601(r.deleted_at) << " " << r.instance_count << " "
                << r.reason << "\n";
    }
    std::cout << Pick(lang, "削除した検査: ", "studies deleted: ") << receipts->size() << "\n";
    return kExitOk;
  }
  if (pos.size() != 2) {
    std::cerr << "tsunagu-relay: " << command << " needs one STUDY_UID (see --help)\n";
    return kExitUsage;
  }
  const std::string& study = pos[1];
  if (command == "revoke") {
    auto n = (*store)->RevokeLinks(study);
    if (!n.ok()) {
      std::cerr << "tsunagu-relay: " << n.status().message() << "\n";
      return kExitFailure;
    }
    std::cout << Pick(lang, "無効化したリンク: ", "links revoked: ") << *n << "\n";
    return kExitOk;
  }
  auto entries = (*store)->AccessLog(study);
  if (!entries.ok()) {
    std::cerr << "tsunagu-relay: " << entries.status().message() << "\n";
    return kExitFailure;
  }
  for (const auto& e : *entries) {
    std::cout << Iso8601(e.time) << " link=" << e.link_id << " event=" << e.event
              << " address=" << e.client_address << " user_agent=\"" << e.user_agent << "\"\n";
  }
  if (entries->empty()) {
    std::cout << Pick(lang, "アクセス記録はありません\n", "no access recorded\n");
  }
  return kExitOk;
}

// SIGHUP re-reads the configuration for the settings that may change without a restart: today
// log_level (docs/operations.md, "What a reload changes"); every other setting needs a restart.
// A configuration that does not load keeps the running settings.
void ReloadLogLevel(const std::string& config_path, spdlog::logger& log) {
  auto fresh = tsunagu::config::LoadRelayConfig(config_path,
                                                tsunagu::config::LoadOptions{.check_files = false});
  if (!fresh.ok()) {
    log.error("relay.reload_failed reason=\"{}\" effect=\"the running settings are kept\"",
              fresh.status().message());
    return;
  }
  const auto level = tsunagu::common::ParseLogLevel(fresh->log_level);
  if (!level.ok() || *level == log.level()) return;
  // Logged under whichever of the two levels shows more, so that the change is always recorded.
  const bool louder = *level < log.level();
  if (louder) log.set_level(*level);
  log.info("relay.log_level_reloaded level={}", fresh->log_level);
  if (!louder) log.set_level(*level);
}

int Serve(const std::string& config_path, const tsunagu::config::RelayOptions& options) {
  tsunagu::common::BlockServiceSignals();

  auto level = tsunagu::common::ParseLogLevel(options.log_level);
  auto log = tsunagu::common::MakeStderrLogger("relay", level.value_or(spdlog::level::info));
  if (!std::filesystem::is_regular_file(options.viewer.assets_directory / "index.html")) {
    log->warn(
        "relay.viewer_assets_missing directory={} hint=\"install the web viewer or set "
        "viewer.assets_directory\"",
        options.viewer.assets_directory.string());
  }
  if (!dcmDataDict.isDictionaryLoaded()) {
    log->error("relay.no_dicom_dictionary hint=\"install dcmtk's dicom.dic or set DCMDICTPATH\"");
    return kExitFailure;
  }
  auto clock = std::make_shared<tsunagu::common::SystemClock>();
  auto store = OpenStore(options, clock, log);
  if (!store.ok()) {
    log->error("relay.store_failed error=\"{}\"", store.status().ToString());
    return kExitFailure;
  }
  if (options.store.key_directory.empty()) {
    log->warn(
        "relay.keys_inside_data_directory hint=\"set store.key_directory outside the data "
        "directory's backups, or a backup can decrypt studies after they are purged\"");
  }
  tsunagu::relay::RelayServiceOptions so;
  so.public_url = options.viewer.public_url;
  so.cors_origins = options.viewer.cors_origins;
  so.patient_id_max_length = static_cast<std::size_t>(options.upload.patient_id_max_length);
  so.gateway_retention = options.retention.per_gateway;
  so.revocation_cache = options.links.revocation_cache;
  so.viewer_assets_directory = options.viewer.assets_directory;
  so.rendered_cache_bytes = options.viewer.render_cache_bytes;
  so.render_cache_bytes = options.viewer.instance_cache_bytes;
  for (const auto& [modality, presets] : options.viewer.window_presets) {
    for (const auto& p : presets)
      so.window_presets[modality].push_back({p.name, p.center, p.width});
  }
  auto metrics = std::make_shared<tsunagu::relay::RelayMetrics>(clock);
  const std::filesystem::path contacts_file =
      options.store.data_directory / tsunagu::relay::kGatewayContactsFile;
  if (auto contacts = tsunagu::relay::ReadGatewayContacts(contacts_file); contacts.ok()) {
    metrics->RestoreGatewayContacts(*contacts);
  } else {
    log->warn("relay.gateway_contacts_unreadable error=\"{}\"", contacts.status().ToString());
  }
  auto service = std::make_shared<tsunagu::relay::RelayService>(
      so, tsunagu::relay::RelayServiceDeps{*store, clock, log, metrics});

  // Server certificates are re-read on SIGHUP (renewal without a restart).
  auto upload_cert = tsunagu::common::ReloadableCertificate::Load(options.upload.cert_file,
                                                                  options.upload.key_file);
  auto viewer_cert = tsunagu::common::ReloadableCertificate::Load(options.viewer.cert_file,
                                                                  options.viewer.key_file);
  if (!upload_cert.ok() || !viewer_cert.ok()) {
    log->error("relay.certificate_failed error=\"{}\"",
               (upload_cert.ok() ? viewer_cert.status() : upload_cert.status()).ToString());
    return kExitFailure;
  }
  tsunagu::relay::TlsListenerOptions up;
  up.certificate = *upload_cert;
  up.bind_address = options.upload.bind_address;
  up.port = options.upload.port;
  up.cert_file = options.upload.cert_file;
  up.key_file = options.upload.key_file;
  up.client_ca_file = options.upload.client_ca_file;
  up.allowed_clients = options.upload.allowed_clients;
  up.max_body_bytes = options.upload.max_request_bytes;
  up.counters = metrics->upload_listener();
  tsunagu::relay::TlsListenerOptions view;
  view.bind_address = options.viewer.bind_address;
  view.port = options.viewer.port;
  view.cert_file = options.viewer.cert_file;
  view.key_file = options.viewer.key_file;
  view.certificate = *viewer_cert;
  view.max_body_bytes = 64 << 10;
  view.counters = metrics->viewer_listener();
  // Chat-card thumbnails under their own tokens (issue 9; relay/src/chat_thumbnails.h).
  auto thumbs = tsunagu::relay::ChatThumbnails::Open(
      options.store.data_directory / "chat-thumbnails.sqlite", *store, so.public_url, log);
  if (!thumbs.ok()) {
    log->error("relay.store_failed error=\"{}\"", thumbs.status().ToString());
    return kExitFailure;
  }
  std::shared_ptr<tsunagu::relay::ChatThumbnails> thumbnails = std::move(thumbs).value();
  auto upload_server = tsunagu::relay::MakeHttpsServer(
      up,
      [service, thumbnails, metrics](const auto& r) {
        if (auto t = thumbnails->HandleUpload(r)) {
          metrics->ObserveUpload(r, *t);
          return *t;
        }
        auto response = service->HandleUpload(r);
        metrics->ObserveUpload(r, response);
        return response;
      },
      log);
  auto viewer_server = tsunagu::relay::MakeHttpsServer(
      view,
      [service, thumbnails](const auto& r) {
        if (auto t = thumbnails->HandleViewer(r)) return *t;
        return service->HandleViewer(r);
      },
      log);
  if (!upload_server.ok() || !viewer_server.ok()) {
    log->error("relay.listener_failed error=\"{}\"",
               (upload_server.ok() ? viewer_server.status() : upload_server.status()).ToString());
    return kExitFailure;
  }
  for (auto* server : {upload_server->get(), viewer_server->get()}) {
    const auto st = server->Start();
    if (!st.ok()) {
      log->error("relay.listener_failed error=\"{}\"", st.ToString());
      return kExitFailure;
    }
  }
  // /metrics on its own plain-HTTP listener ([metrics]); a failure to bind it is logged, not
  // fatal: studies keep flowing, and Prometheus's `up` shows the missing target.
  std::unique_ptr<tsunagu::relay::MetricsServer> metrics_server;
  if (options.metrics.enabled) {
    const auto data_directory = options.store.data_directory;
    const auto quota = options.store.quota_bytes;
    auto started = tsunagu::relay::StartMetricsServer(
        options.metrics.bind_address, options.metrics.port,
        [metrics, data_directory, quota, clock] {
          std::optional<tsunagu::relay::StoreGauges> gauges;
          if (auto report = tsunagu::retention::ReadIndexReport(data_directory, clock->SystemNow(),
                                                                /*max_receipts=*/0);
              report.ok()) {
            gauges.emplace();
            gauges->used_bytes = report->used_bytes;
            gauges->quota_bytes = quota;
            for (const auto& study : report->studies) ++gauges->studies_by_state[study.state];
          }
          return metrics->Render(gauges);
        },
        log);
    if (started.ok()) {
      metrics_server = std::move(started).value();
    } else {
      log->error("relay.metrics_listener_failed error=\"{}\"", started.status().ToString());
    }
  }
  log->info(
      "relay.start version={} config={} upload_port={} viewer_port={} metrics_port={} "
      "retention={}",
      tsunagu::common::Version(), config_path, options.upload.port, options.viewer.port,
      metrics_server ? metrics_server->port() : 0,
      tsunagu::common::FormatDuration(options.retention.period));
  // Gateways' last contact is saved at most every second (and at shutdown).
  auto save_contacts = [&] {
    if (!metrics->TakeContactsChanged()) return;
    const auto st = tsunagu::relay::SaveGatewayContacts(contacts_file, metrics->GatewayContacts());
    if (!st.ok()) log->warn("relay.gateway_contacts_save_failed error=\"{}\"", st.ToString());
  };
  auto last_contacts_save = clock->SteadyNow();
  auto last_purge = clock->SteadyNow() - options.retention.purge_interval;
  int exit_code = kExitOk;
  for (;;) {
    if (clock->SteadyNow() - last_purge >= options.retention.purge_interval) {
      last_purge = clock->SteadyNow();
      auto receipts = (*store)->Purge();
      metrics->RecordPurge(receipts.ok(), receipts.ok() ? receipts->size() : 0);
      if (!receipts.ok()) log->error("purge.failed error=\"{}\"", receipts.status().ToString());
    }
    service->FlushAccessLog();
    if (clock->SteadyNow() - last_contacts_save >= std::chrono::seconds(1)) {
      last_contacts_save = clock->SteadyNow();
      save_contacts();
    }
    const auto wait = std::min<std::chrono::milliseconds>(
        std::chrono::seconds(1),
        std::chrono::duration_cast<std::chrono::milliseconds>(options.retention.purge_interval));
    auto sig = tsunagu::common::WaitForSignal(wait);
    if (!sig) continue;
    if (*sig == SIGHUP) {
      ReloadLogLevel(config_path, *log);
      for (const auto& [name, cert] :
           {std::pair{"upload", *upload_cert}, std::pair{"viewer", *viewer_cert}}) {
        const auto st = cert->Reload();
        if (st.ok()) {
          log->info("relay.certificate_reloaded listener={} {}", name, cert->Describe());
        } else {
          log->error("relay.certificate_reload_failed listener={} kept=\"{}\" error=\"{}\"", name,
                     cert->Describe(), st.message());
        }
      }
      continue;
    }
    log->info("relay.stop signal={}", *sig);
    break;
  }
  (*upload_server)->Stop();
  (*viewer_server)->Stop();
  if (metrics_server) metrics_server->Stop();
  service->FlushAccessLog();
  save_contacts();
  return exit_code;
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
  if (!argv.empty() && argv[0] == "studies") {
    return tsunagu::relay::RunStudiesCommand(std::vector<std::string>(argv.begin() + 1, argv.end()),
                                             kDefaultConfig, std::cout, std::cerr);
  }
  if (!argv.empty() && (argv[0] == "backup" || argv[0] == "restore")) {
    return tsunagu::relay::RunBackupCommand(argv[0] == "restore",
                                            std::vector<std::string>(argv.begin() + 1, argv.end()),
                                            kDefaultConfig, std::cout, std::cerr);
  }
  tsunagu::common::CliSpec spec{{"--help", "--version", "--check", "--now"}, {"--config"}, {}};
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
  std::string command;
  if (!args->positional().empty()) {
    command = args->positional().front();
    if (command != "purge" && command != "revoke" && command != "audit") {
      std::cerr << "tsunagu-relay: unexpected argument " << command << " (see --help)\n";
      return kExitUsage;
    }
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
  if (!command.empty()) return RunCommand(command, *args, *options);
  return Serve(config_path, *options);
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
