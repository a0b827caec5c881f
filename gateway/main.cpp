// tsunagu-gateway: the hospital-side service. This file is the composition root: the only place
// where concrete implementations are created and wired together.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backup.h"
#include "doctor.h"
#include "src/wake_socket.h"
#include "tsunagu/chat/card_follow_up.h"
#include "tsunagu/chat/chat_service.h"
#include "tsunagu/chat/patient_threads.h"
#include "tsunagu/common/cli.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/common/file_system.h"
#include "tsunagu/common/language.h"
#include "tsunagu/common/logging.h"
#include "tsunagu/common/process.h"
#include "tsunagu/common/reloadable_certificate.h"
#include "tsunagu/common/secret_file.h"
#include "tsunagu/common/units.h"
#include "tsunagu/config/gateway_options.h"
#include "tsunagu/gateway/control.h"
#include "tsunagu/gateway/dicom_node.h"
#include "tsunagu/gateway/job_store.h"
#include "tsunagu/gateway/pacs_client.h"
#include "tsunagu/gateway/pipeline.h"
#include "tsunagu/gateway/stage_adapters.h"
#include "tsunagu/gateway/web_server.h"
#include "tsunagu/ipsec/command.h"
#include "tsunagu/ipsec/tunnel_monitor.h"
#include "tsunagu/jobs/job_engine.h"

namespace {

namespace fs = std::filesystem;
namespace gw = tsunagu::gateway;
using tsunagu::common::Language;
using tsunagu::common::Pick;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTimeout = 3;
// How long `cancel JOB` waits for the worker holding a job to stop (it checks at least after each
// instance the PACS sends and between stages).
constexpr std::chrono::seconds kCancelWait(60);
constexpr char kDefaultConfig[] = "/etc/tsunagu/gateway.toml";
constexpr char kEngineOwner[] = "gateway-service";
// How often posted cards are checked for a first opening (seen receipts) and for expiry.
constexpr std::chrono::seconds kFollowUpInterval{3};

void PrintHelp(Language lang) {
  std::cout << Pick(
      lang,
      "使い方: tsunagu-gateway [--config FILE] [--check]\n"
      "        tsunagu-gateway send --config FILE (--study-uid UID | --accession N |\n"
      "                             --patient-id ID [--date D]) --thread NAME\n"
      "                             [--note TEXT] [--no-wait] [--timeout 30m]\n"
      "        tsunagu-gateway status --config FILE [JOB]\n"
      "        tsunagu-gateway find --config FILE [--patient-id ID] [--accession N]\n"
      "                             [--date D|D1-D2] [--modality M]\n"
      "\n"
      "病院内で動くTsunaguゲートウェイ。PACSから検査を取得し、匿名化して\n"
      "院外のリレーへ送り、チャットにビューアのリンクを投稿します。\n"
      "\n"
      "  --config FILE  設定ファイル (既定: /etc/tsunagu/gateway.toml)\n"
      "  --check        設定を検証して終了 (正常なら0、誤りがあれば2)\n"
      "  send           検査をスレッドへ送る (進捗を表示; --no-wait でジョブ番号のみ)\n"
      "  status [JOB]   ジョブの一覧 (スプール使用量つき) または詳細\n"
      "  retry JOB      失敗したジョブを失敗した段階から再実行\n"
      "  cancel JOB     リンク投稿前のジョブを取り消し、スプールのファイルを削除\n"
      "  find           PACSを検索 (患者IDは下4桁のみ表示)\n"
      "  ipsec render [--out DIR] [--check]  strongSwan設定を生成\n"
      "  ipsec status   IPsecトンネルの状態を表示\n"
      "  doctor         設定・証明書・ディスク・トンネル等を点検 (0 正常, 1 警告, 2 異常)\n"
      "  chat list | chat test THREAD  チャットのスレッド一覧 / テストカードを投稿\n"
      "  backup FILE    ジョブDBを FILE にコピー (稼働中でも安全)\n"
      "  restore FILE   バックアップを戻す (先にサービスを停止)\n"
      "  chat preview FORMAT [ja|en]   カードの見本 (text/html/slack/mattermost/chatwork)\n"
      "  chat rooms [forget T KEY]     患者ごとのルームの対応付け (一覧 / 削除)\n"
      "  chat revoke JOB               リンクを取り消し、カードを「取り消し」に更新\n"
      "  --version      バージョンを表示\n"
      "  --help         このヘルプを表示\n"
      "\n"
      "終了コード: 0 成功, 1 失敗, 2 使い方・設定の誤り, 3 時間切れ。\n"
      "言語は TSUNAGU_LANG=en|ja で切り替えられます。\n",
      "Usage: tsunagu-gateway [--config FILE] [--check]\n"
      "       tsunagu-gateway send --config FILE (--study-uid UID | --accession N |\n"
      "                            --patient-id ID [--date D]) --thread NAME\n"
      "                            [--note TEXT] [--no-wait] [--timeout 30m]\n"
      "       tsunagu-gateway status --config FILE [JOB]\n"
      "       tsunagu-gateway find --config FILE [--patient-id ID] [--accession N]\n"
      "                            [--date D|D1-D2] [--modality M]\n"
      "\n"
      "The Tsunagu gateway, inside the hospital: fetches studies from the PACS,\n"
      "de-identifies them, sends them to the off-site relay and posts the viewer\n"
      "link to chat.\n"
      "\n"
      "  --config FILE  configuration file (default: /etc/tsunagu/gateway.toml)\n"
      "  --check        validate the configuration and exit (0 valid, 2 invalid)\n"
      "  send           send a study to a thread, following its progress\n"
      "                 (--no-wait prints the job id only)\n"
      "  status [JOB]   list jobs (with spool use), or show one\n"
      "  retry JOB      run a failed job again from the stage it failed in\n"
      "  cancel JOB     end a job before its link is posted and delete its spool files\n"
      "  find           search the PACS (patient IDs show their last 4 only)\n"
      "  ipsec render [--out DIR] [--check]  write the strongSwan configuration\n"
      "  ipsec status   show the IPsec tunnel state\n"
      "  doctor         check config, certificates, disk, tunnel... (0 ok, 1 warn, 2 failed)\n"
      "  chat list | chat test THREAD  list chat threads / post a test card\n"
      "  backup FILE    copy the job store to FILE (safe while running)\n"
      "  restore FILE   put a backup back (stop the service first)\n"
      "  chat preview FORMAT [ja|en]   a sample card (text/html/slack/mattermost/chatwork)\n"
      "  chat rooms [forget T KEY]     per-patient room mapping (list / remove one)\n"
      "  chat revoke JOB               revoke the job's links; mark its card revoked\n"
      "  --version      print the version\n"
      "  --help         print this help\n"
      "\n"
      "Exit status: 0 success, 1 failure, 2 usage or configuration error, 3 timeout.\n"
      "Set TSUNAGU_LANG=ja|en to switch the language.\n");
}

fs::path DatabasePath(const tsunagu::config::GatewayOptions& o) {
  return o.storage.data_directory / "gateway.db";
}

fs::path WakeSocketPath(const tsunagu::config::GatewayOptions& o) {
  return o.storage.data_directory / "wake.sock";
}

// The spool key separates the spool's file names from the anonymizer's UID mapping.
std::string SpoolKeyOf(const std::string& secret) {
  const auto d = tsunagu::common::HmacSha256(secret, "tsunagu-gateway spool key v1");
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

tsunagu::common::Result<std::string> SpoolKey(const tsunagu::config::GatewayOptions& o,
                                              std::string* secret_out) {
  TSUNAGU_ASSIGN_OR_RETURN(std::string secret,
                           tsunagu::common::ReadSecretFile(o.anonymizer.secret_file));
  if (secret_out) *secret_out = secret;
  return SpoolKeyOf(secret);
}

// The retired site secrets (anonymizer.previous_secret_files), in the configured order. Refuses a
// file that holds the current secret or one listed before it: the same secret twice is a mistake
// in the rotation (say, the new secret was copied over the old one).
tsunagu::common::Result<std::vector<std::string>> PreviousSecrets(
    const tsunagu::config::GatewayOptions& o, const std::string& current) {
  std::vector<std::string> out;
  std::set<std::string> seen{gw::SecretGenerationId(current)};
  const auto& files = o.anonymizer.previous_secret_files;
  for (size_t i = 0; i < files.size(); ++i) {
    TSUNAGU_ASSIGN_OR_RETURN(std::string s, tsunagu::common::ReadSecretFile(files[i]));
    if (!seen.insert(gw::SecretGenerationId(s)).second) {
      return tsunagu::common::InvalidArgumentError(
          "anonymizer.previous_secret_files[" + std::to_string(i) + "] (" + files[i].string() +
          ") holds the same secret as secret_file or an earlier entry; after a rotation "
          "secret_file must hold the new secret");
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::unique_ptr<gw::PacsClient> MakePacs(const tsunagu::config::GatewayOptions& o) {
  if (!o.pacs) return nullptr;
  gw::PacsClientOptions p;
  p.own_ae_title = o.dicom.ae_title;
  p.peer_host = o.pacs->host;
  p.peer_port = o.pacs->port;
  p.peer_ae_title = o.pacs->ae_title;
  p.acse_timeout = o.dicom.acse_timeout;
  p.dimse_timeout = o.pacs->dimse_timeout;
  return gw::MakeDcmtkPacsClient(p);
}

std::vector<std::string> ThreadNames(const tsunagu::config::GatewayOptions& o) {
  std::vector<std::string> out;
  for (const auto& t : o.threads) out.push_back(t.name);
  return out;
}

int Fail(const std::string& what) {
  std::cerr << "tsunagu-gateway: " << what << "\n";
  return kExitFailure;
}

// SIGHUP re-reads the configuration for the settings that may change without a restart: today
// log_level (docs/operations.md, "What a reload changes"); every other setting needs a restart.
// A configuration that does not load keeps the running settings.
void ReloadLogLevel(const std::string& config_path,
                    const std::vector<std::shared_ptr<spdlog::logger>>& loggers) {
  auto fresh = tsunagu::config::LoadGatewayConfig(
      config_path, tsunagu::config::LoadOptions{.check_files = false});
  if (!fresh.ok()) {
    loggers.front()->error(
        "gateway.reload_failed reason=\"{}\" effect=\"the running settings are kept\"",
        fresh.status().message());
    return;
  }
  const auto level = tsunagu::common::ParseLogLevel(fresh->log_level);
  if (!level.ok() || *level == loggers.front()->level()) return;
  // Logged under whichever of the two levels shows more, so that the change is always recorded.
  const bool louder = *level < loggers.front()->level();
  if (louder) {
    for (const auto& l : loggers) l->set_level(*level);
  }
  loggers.front()->info("gateway.log_level_reloaded level={}", fresh->log_level);
  if (!louder) {
    for (const auto& l : loggers) l->set_level(*level);
  }
}

// ---------------------------------------------------------------------------------------------
// The service.

int RunService(const tsunagu::config::GatewayOptions& options, const std::string& config_path) {
  tsunagu::common::BlockServiceSignals();
  auto level = tsunagu::common::ParseLogLevel(options.log_level);
  auto log = tsunagu::common::MakeStderrLogger("gateway", level.value_or(spdlog::level::info));
  log->info("gateway.start version={} config={} ae_title={} dicom_port={} threads={}",
            tsunagu::common::Version(), config_path, options.dicom.ae_title, options.dicom.port,
            options.threads.size());
  if (auto st = gw::ConfigureDcmnetForProcess(); !st.ok()) return Fail(st.message());

  auto clock = std::make_shared<tsunagu::common::SystemClock>();
  tsunagu::common::LocalFileSystem local_fs;
  const fs::path spool = options.storage.spool_directory;
  const fs::path incoming = spool / "incoming";
  const fs::path outbox = options.storage.data_directory / "outbox";
  for (const fs::path& d : {options.storage.data_directory, spool, incoming, outbox}) {
    if (auto st = local_fs.CreateDirectories(d); !st.ok()) return Fail(st.ToString());
  }
  // Half-received files from before a crash: their C-STORE was never answered, the sender will
  // send them again.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(incoming, ec)) fs::remove(e.path(), ec);

  std::string secret;
  auto spool_key = SpoolKey(options, &secret);
  if (!spool_key.ok()) return Fail(spool_key.status().ToString());
  gw::UidKeyer keyer(*spool_key);

  auto store = gw::JobStore::Open(DatabasePath(options).string(), clock.get());
  if (!store.ok()) return Fail(store.status().ToString());
  if (auto n = (*store)->ReleaseLeasesOf(kEngineOwner); n.ok() && *n > 0) {
    log->info("jobs.resumed leases_released={}", *n);
  }

  // Site-secret rotation (docs/operations.md): the current secret, then the retired ones. A study
  // first sent under a retired secret keeps its UIDs; the patient key is under all of them.
  auto previous_secrets = PreviousSecrets(options, secret);
  if (!previous_secrets.ok()) return Fail(previous_secrets.status().ToString());
  std::vector<std::string> patient_key_secrets;
  if (!previous_secrets->empty()) {
    patient_key_secrets.push_back(secret);
    for (const auto& s : *previous_secrets) patient_key_secrets.push_back(s);
  }
  auto deidentifier =
      gw::MakeAnonymizerDeidentifier(options.anonymizer, secret, patient_key_secrets);
  std::vector<std::unique_ptr<gw::UidKeyer>> previous_keyers;
  std::vector<std::unique_ptr<gw::InstanceDeidentifier>> previous_deidentifiers;
  for (const std::string& s : *previous_secrets) {
    previous_keyers.push_back(std::make_unique<gw::UidKeyer>(SpoolKeyOf(s)));
    auto d = gw::MakeAnonymizerDeidentifier(options.anonymizer, s, patient_key_secrets);
    previous_deidentifiers.push_back(d.ok()
                                         ? std::move(d).value()
                                         : gw::MakeUnavailableDeidentifier(d.status().WithContext(
                                               "the anonymizer cannot be set up")));
  }
  log->info("anonymizer.secrets current={} previous={}", gw::SecretGenerationId(secret),
            previous_secrets->size());
  if (!deidentifier.ok()) {
    log->error(
        "anonymizer.unavailable code={} reason=\"{}\" effect=\"jobs wait before "
        "de-identification\"",
        tsunagu::common::ErrorCodeName(deidentifier.status().code()),
        deidentifier.status().message());
    deidentifier = gw::MakeUnavailableDeidentifier(
        deidentifier.status().WithContext("the anonymizer cannot be set up"));
  }
  gw::PipelineMetrics metrics;
  // The client certificate is re-read on SIGHUP (renewal without a restart). When it cannot be
  // loaded the relay client reports why below and jobs wait before upload.
  std::shared_ptr<tsunagu::common::ReloadableCertificate> client_cert;
  if (auto loaded = tsunagu::common::ReloadableCertificate::Load(options.relay.client_cert_file,
                                                                 options.relay.client_key_file);
      loaded.ok()) {
    client_cert = *loaded;
  }
  auto relay_client_log =
      tsunagu::common::MakeStderrLogger("relay-client", level.value_or(spdlog::level::info));
  auto uploader = gw::MakeRelayUploader(options.relay, clock, relay_client_log, client_cert);
  if (!uploader.ok()) {
    log->error("relay.unavailable code={} reason=\"{}\" effect=\"jobs wait before upload\"",
               tsunagu::common::ErrorCodeName(uploader.status().code()),
               uploader.status().message());
    uploader = gw::MakeUnavailableUploader(
        uploader.status().WithContext("the relay client cannot be set up"));
  }
  if (options.transport.require_ipsec) {
    // Fail closed: no upload leaves while the child SA to the relay is not installed.
    uploader = gw::MakeTunnelGuardedUploader(
        std::move(uploader).value(),
        tsunagu::ipsec::MakeSwanctlTunnelMonitor(options.ipsec, std::chrono::seconds(5)), clock,
        std::chrono::seconds(1), &metrics, log);
  }
  std::unique_ptr<gw::LinkPoster> poster = std::make_unique<gw::LoggingLinkPoster>(log);
  std::unique_ptr<tsunagu::chat::PatientThreadStore> patient_rooms;
  std::unique_ptr<tsunagu::chat::PostedCardStore> posted_cards;
  gw::RelayChatLinks relay_links;
  std::shared_ptr<tsunagu::chat::ChatService> chat_service;
  tsunagu::chat::ChatMetrics chat_metrics;
  auto chat_log = tsunagu::common::MakeStderrLogger("chat", level.value_or(spdlog::level::info));
  if (!options.chat.connectors.empty()) {
    auto rooms = tsunagu::chat::PatientThreadStore::Open(
        options.storage.data_directory / "chat-rooms.sqlite", clock.get());
    if (!rooms.ok()) return Fail(rooms.status().ToString());
    patient_rooms = std::move(rooms).value();
    tsunagu::chat::ChatServiceDeps chat_deps;
    chat_deps.clock = clock.get();
    chat_deps.patient_rooms = patient_rooms.get();
    chat_deps.log = chat_log;
    chat_deps.metrics = &chat_metrics;
    metrics.chat = &chat_metrics;
    auto chat = tsunagu::chat::ChatService::Create(options, std::move(chat_deps));
    if (!chat.ok()) return Fail(chat.status().ToString());
    auto posts =
        tsunagu::chat::PostedCardStore::Open(options.storage.data_directory / "chat-posts.sqlite");
    if (!posts.ok()) return Fail(posts.status().ToString());
    posted_cards = std::move(posts).value();
    chat_service = std::shared_ptr<tsunagu::chat::ChatService>(std::move(chat).value());
    auto links = gw::MakeRelayChatLinks(options.relay, clock, chat_log);
    if (links.ok()) {
      relay_links = std::move(links).value();
    } else {
      log->warn(
          "chat.relay_links_unavailable reason=\"{}\" effect=\"no seen receipts or "
          "thumbnails\"",
          links.status().message());
    }
    poster = gw::MakeChatLinkPoster(chat_service, posted_cards.get(), relay_links.thumbnails.get(),
                                    chat_log);
  }
  std::unique_ptr<gw::PacsClient> pacs = MakePacs(options);

  gw::PipelineOptions popts;
  popts.own_ae_title = options.dicom.ae_title;
  if (options.pacs) {
    popts.move_deadline = options.pacs->move_deadline;
    popts.max_move_retries = options.pacs->max_move_retries;
  }
  popts.quiet_period = options.push.quiet_period;
  popts.outbox_dir = outbox;
  popts.spool_dir = spool;
  popts.spool_max_age = options.storage.spool_max_age;
  popts.upload_connections = options.relay.upload_connections;
  for (const auto& t : options.threads) {
    if (t.retention) popts.thread_retention[t.name] = *t.retention;
    if (t.access_code_required) popts.access_code_threads.insert(t.name);
  }
  std::vector<gw::SecretGeneration> generations{
      {gw::SecretGenerationId(secret), &keyer, deidentifier->get()}};
  for (size_t i = 0; i < previous_secrets->size(); ++i) {
    generations.push_back({gw::SecretGenerationId((*previous_secrets)[i]), previous_keyers[i].get(),
                           previous_deidentifiers[i].get()});
  }
  gw::StudyPipeline pipeline(
      popts, {store->get(), pacs.get(), deidentifier->get(), uploader->get(), poster.get(),
              &local_fs, clock.get(), &metrics, &keyer, log, std::move(generations)});
  if (previous_secrets->empty()) {
    // With one secret every job so far used it: recorded, so that after a rotation `doctor` can
    // say when the retired secret was last needed.
    if (auto n = (*store)->BackfillSecretGeneration(gw::SecretGenerationId(secret)); !n.ok()) {
      return Fail(n.status().ToString());
    }
  }
  if (auto moved = pipeline.AdoptCurrentSecret(); !moved.ok()) {
    return Fail(moved.status().ToString());
  } else if (*moved > 0) {
    log->info("jobs.adopted_current_secret jobs={}", *moved);
  }
  tsunagu::jobs::SeededRandom random(
      static_cast<std::uint64_t>(::getpid()) ^
      static_cast<std::uint64_t>(clock->SteadyNow().time_since_epoch().count()));
  tsunagu::jobs::EngineOptions eopts;
  eopts.owner = kEngineOwner;
  eopts.workers = 2;
  eopts.lease_for = gw::JobLeaseFor(popts);
  // A relay or PACS that is down for hours at night must not fail the job: retry with backoff
  // capped at 5 minutes for about four hours; the spool ceiling bounds identified data anyway.
  eopts.max_attempts = 50;
  eopts.backoff = {std::chrono::milliseconds(500), std::chrono::minutes(5)};
  tsunagu::jobs::JobEngine engine(
      eopts, {store->get(), &pipeline, clock.get(), &random,
              [log](const tsunagu::jobs::Lease& lease, const tsunagu::jobs::StepResult& r) {
                using K = tsunagu::jobs::StepResult::Kind;
                if (r.kind() == K::kRetry) {
                  log->warn("job.retry job={} stage={} attempt={} code={} reason=\"{}\"",
                            lease.id.value(), lease.stage, lease.attempt,
                            tsunagu::common::ErrorCodeName(r.status().code()),
                            r.status().message());
                } else if (r.kind() == K::kFailed) {
                  log->error("job.failed job={} stage={} code={} reason=\"{}\"", lease.id.value(),
                             lease.stage, tsunagu::common::ErrorCodeName(r.status().code()),
                             r.status().message());
                }
              }});

  std::vector<gw::Route> routes;
  std::vector<std::string> extra_aes;
  for (const auto& r : options.routes) {
    routes.push_back(
        {r.thread, r.called_ae_title, r.calling_ae_title, r.modality, r.institution_department});
    if (!r.called_ae_title.empty()) extra_aes.push_back(r.called_ae_title);
  }
  gw::Intake intake(spool, options.storage.spool_min_free_bytes, routes,
                    {store->get(), &local_fs, &keyer, &metrics, log, [&engine, &pipeline] {
                       engine.Wake();
                       pipeline.NotifyArrival();
                     }});
  gw::DicomNodeOptions nopts;
  nopts.ae_title = options.dicom.ae_title;
  nopts.extra_called_ae_titles = extra_aes;
  nopts.bind_address = options.dicom.bind_address;
  nopts.port = options.dicom.port;
  nopts.max_associations = options.dicom.max_associations;
  nopts.acse_timeout = options.dicom.acse_timeout;
  nopts.dimse_timeout = options.dicom.dimse_timeout;
  nopts.incoming_dir = incoming;
  auto node = gw::StartDicomNode(nopts, &intake, log);
  if (!node.ok()) return Fail(node.status().ToString());

  gw::Control control(store->get(), pacs.get(), &keyer, ThreadNames(options));
  gw::WebServerOptions wopts;
  wopts.bind_address = options.web.bind_address;
  wopts.port = options.web.port;
  wopts.language = options.language;
  auto web = gw::StartWebServer(
      wopts,
      {&control, [&] { return (*node)->counters(); }, &metrics, [&engine] { engine.Wake(); }}, log);
  if (!web.ok()) {
    (*node)->Stop();
    return Fail(web.status().ToString());
  }

  if (auto swept = pipeline.SweepSpool(); !swept.ok()) {
    log->warn("spool.sweep_failed reason=\"{}\"", swept.status().message());
  }
  engine.Start();
  // `send` rings this after queuing a job, so the engine claims it now, not at its next poll.
  auto wake = gw::WakeListener::Start(WakeSocketPath(options), [&engine] { engine.Wake(); });
  if (!wake.ok()) {
    log->info("gateway.wake_socket_unavailable reason=\"{}\" note=\"sends start at the next poll\"",
              wake.status().message());
  }
  // Seen receipts and expired notices of posted cards (issue 9), every few seconds on their own
  // thread so that a slow relay or platform never delays a signal.
  std::mutex follow_up_mu;
  std::condition_variable follow_up_cv;
  bool follow_up_stop = false;
  std::thread follow_up;
  if (chat_service) {
    follow_up = std::thread([&] {
      tsunagu::chat::CardFollowUp cards({chat_service.get(), posted_cards.get(),
                                         relay_links.events.get(), clock.get(), chat_log,
                                         &chat_metrics});
      std::unique_lock lock(follow_up_mu);
      while (!follow_up_stop) {
        lock.unlock();
        if (auto r = cards.RunOnce(); !r.ok()) {
          chat_log->warn("chat.followup_failed reason=\"{}\"", r.status().message());
        }
        lock.lock();
        follow_up_cv.wait_for(lock, kFollowUpInterval, [&] { return follow_up_stop; });
      }
    });
  }
  log->info("gateway.ready dicom_port={} web={}:{}", options.dicom.port, options.web.bind_address,
            options.web.port);
  auto last_sweep = clock->SteadyNow();
  int exit_code = kExitOk;
  for (;;) {
    auto sig = tsunagu::common::WaitForSignal(std::chrono::seconds(1));
    if (clock->SteadyNow() - last_sweep > std::chrono::minutes(1)) {
      last_sweep = clock->SteadyNow();
      (void)pipeline.SweepSpool();
    }
    if (!sig) continue;
    if (*sig == SIGHUP) {
      ReloadLogLevel(config_path, {log, relay_client_log, chat_log});
      if (!client_cert) {
        log->warn(
            "gateway.reload_ignored reason=\"the client certificate did not load at start; "
            "restart the service\"");
      } else if (const auto st = client_cert->Reload(); st.ok()) {
        log->info("gateway.certificate_reloaded {}", client_cert->Describe());
      } else {
        log->error("gateway.certificate_reload_failed kept=\"{}\" error=\"{}\"",
                   client_cert->Describe(), st.message());
      }
      continue;
    }
    log->info("gateway.stop signal={}", *sig);
    break;
  }
  if (wake.ok()) wake->reset();
  (*web)->Stop();
  (*node)->Stop();
  engine.Stop();
  if (follow_up.joinable()) {
    {
      std::lock_guard lock(follow_up_mu);
      follow_up_stop = true;
    }
    follow_up_cv.notify_all();
    follow_up.join();
  }
  return exit_code;
}

// ---------------------------------------------------------------------------------------------
// Sub-commands. They open the same job database as the service (SQLite WAL allows it).

struct Tools {
  std::shared_ptr<tsunagu::common::SystemClock> clock =
      std::make_shared<tsunagu::common::SystemClock>();
  std::unique_ptr<gw::JobStore> store;
  std::unique_ptr<gw::PacsClient> pacs;
  std::unique_ptr<gw::UidKeyer> keyer;
  std::unique_ptr<gw::Control> control;
};

tsunagu::common::Result<Tools> OpenTools(const tsunagu::config::GatewayOptions& o, bool need_pacs) {
  TSUNAGU_RETURN_IF_ERROR(gw::ConfigureDcmnetForProcess());
  Tools t;
  tsunagu::common::LocalFileSystem local_fs;
  TSUNAGU_RETURN_IF_ERROR(local_fs.CreateDirectories(o.storage.data_directory));
  TSUNAGU_ASSIGN_OR_RETURN(std::string key, SpoolKey(o, nullptr));
  t.keyer = std::make_unique<gw::UidKeyer>(key);
  TSUNAGU_ASSIGN_OR_RETURN(t.store, gw::JobStore::Open(DatabasePath(o).string(), t.clock.get()));
  t.pacs = MakePacs(o);
  if (need_pacs && !t.pacs) {
    return tsunagu::common::FailedPreconditionError(
        "no [pacs] section in the configuration: cannot search or fetch studies");
  }
  t.control =
      std::make_unique<gw::Control>(t.store.get(), t.pacs.get(), t.keyer.get(), ThreadNames(o));
  return t;
}

gw::FindQuery QueryFromArgs(const tsunagu::common::CliArgs& args) {
  gw::FindQuery q;
  q.level = gw::QueryLevel::kStudy;
  q.patient_id = args.Option("--patient-id").value_or("");
  q.accession_number = args.Option("--accession").value_or("");
  q.study_date = args.Option("--date").value_or("");
  q.modality = args.Option("--modality").value_or("");
  q.study_uid = args.Option("--study-uid").value_or("");
  return q;
}

std::string Bar(int done, int total, int width) {
  if (total <= 0) return std::string(static_cast<size_t>(width), '.');
  const int filled = std::clamp(done * width / total, 0, width);
  return std::string(static_cast<size_t>(filled), '#') +
         std::string(static_cast<size_t>(width - filled), '.');
}

int RunSend(const tsunagu::config::GatewayOptions& o, const tsunagu::common::CliArgs& args) {
  const Language lang = o.language;
  const auto thread = args.Option("--thread");
  gw::FindQuery q = QueryFromArgs(args);
  if (!thread || (q.study_uid.empty() && q.accession_number.empty() && q.patient_id.empty())) {
    std::cerr << "tsunagu-gateway send: "
              << Pick(lang,
                      "--thread と --study-uid / --accession / --patient-id のいずれかが必要です",
                      "needs --thread and one of --study-uid, --accession, --patient-id")
              << "\n";
    return kExitUsage;
  }
  std::chrono::milliseconds timeout = std::chrono::minutes(30);
  if (auto t = args.Option("--timeout")) {
    auto d = tsunagu::common::ParseDuration(*t);
    if (!d) {
      std::cerr << "tsunagu-gateway send: --timeout: expected a duration such as 30m, got \"" << *t
                << "\"\n";
      return kExitUsage;
    }
    timeout = *d;
  }
  auto tools = OpenTools(o, q.study_uid.empty());
  if (!tools.ok()) return Fail(tools.status().ToString());
  gw::Control& control = *tools->control;
  auto uid = control.ResolveStudy(q);
  if (!uid.ok()) {
    std::cerr << "tsunagu-gateway send: " << uid.status().ToString() << "\n";
    return uid.status().code() == tsunagu::common::ErrorCode::kInvalidArgument ? kExitUsage
                                                                               : kExitFailure;
  }
  auto job = control.SendStudyUid(*uid, *thread, args.Option("--note").value_or(""));
  if (!job.ok()) {
    std::cerr << "tsunagu-gateway send: " << job.status().ToString() << "\n";
    return job.status().code() == tsunagu::common::ErrorCode::kInvalidArgument ? kExitUsage
                                                                               : kExitFailure;
  }
  gw::RingWake(WakeSocketPath(o));
  if (args.Flag("--no-wait")) {
    std::cout << job->value() << "\n";
    return kExitOk;
  }
  std::cerr << Pick(lang, "ジョブ ", "job ") << job->value()
            << Pick(lang, " を登録しました\n", " queued\n");
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last_line;
  for (;;) {
    auto v = control.Job(*job);
    if (!v.ok()) return Fail(v.status().ToString());
    const gw::JobRecord& j = v->job;
    const int total = std::max(v->progress.total, j.expected_count);
    const std::string line =
        fmt::format("{} [{}] {} {}/{}  {} {}  {} {}", j.stage, Bar(v->progress.uploaded, total, 20),
                    Pick(lang, "受信", "received"), v->progress.received, std::max(total, 0),
                    Pick(lang, "匿名化", "de-identified"), v->progress.deidentified,
                    Pick(lang, "送信", "uploaded"), v->progress.uploaded);
    if (line != last_line) {
      if (tty) {
        std::cerr << "\r\033[K" << line << std::flush;
      } else {
        std::cerr << line << "\n";
      }
      last_line = line;
    }
    if (j.stage == gw::stage::kPosted || j.stage == gw::stage::kCleaned) {
      if (tty) std::cerr << "\n";
      std::cout << Pick(lang, "リンクを投稿しました: ", "link posted: ") << j.thread << " "
                << j.viewer_url << " (" << Pick(lang, "期限 ", "expires ") << j.expires_at << ")\n";
      if (!j.access_code.empty()) {
        std::cout << Pick(lang,
                          "アクセスコード: " + j.access_code +
                              " (チャットには載せていません。電話などで相手に伝えてください)",
                          "access code: " + j.access_code +
                              " (not posted in the chat: tell the recipient by phone)")
                  << "\n";
      }
      return kExitOk;
    }
    if (j.stage == gw::stage::kFailed) {
      if (tty) std::cerr << "\n";
      std::cerr << "tsunagu-gateway send: " << Pick(lang, "ジョブ失敗: ", "job failed: ")
                << j.last_error << "\n";
      return kExitFailure;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      if (tty) std::cerr << "\n";
      std::cerr << "tsunagu-gateway send: "
                << Pick(lang, "待ち時間を超えました (ジョブは続行中): ",
                        "timed out waiting (the job continues): ")
                << j.stage << (j.last_error.empty() ? "" : " " + j.last_error) << "\n";
      return kExitTimeout;
    }
    // Short: the wait for the last poll adds to every send's time (one job row and a count over
    // its instances, a fraction of a millisecond).
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int RunStatus(const tsunagu::config::GatewayOptions& o, const tsunagu::common::CliArgs& args) {
  auto tools = OpenTools(o, false);
  if (!tools.ok()) return Fail(tools.status().ToString());
  const auto& pos = args.positional();
  if (pos.size() > 2) {
    std::cerr << "tsunagu-gateway status: at most one JOB\n";
    return kExitUsage;
  }
  if (pos.size() == 2) {
    char* end = nullptr;
    const long long id = std::strtoll(pos[1].c_str(), &end, 10);
    if (end == pos[1].c_str() || *end != '\0' || id <= 0) {
      std::cerr << "tsunagu-gateway status: JOB: expected a job number, got \"" << pos[1] << "\"\n";
      return kExitUsage;
    }
    auto v = tools->control->Job(tsunagu::common::JobId(id));
    if (!v.ok()) return Fail(v.status().ToString());
    const gw::JobRecord& j = v->job;
    std::cout << "job " << j.id.value() << "\n"
              << "  kind: " << gw::JobKindName(j.kind) << "\n"
              << "  stage: " << j.stage
              << (j.failed_stage.empty() ? "" : " (in " + j.failed_stage + ")") << "\n"
              << "  thread: " << j.thread << "\n"
              << "  study: " << j.study_key << "\n"
              << "  patient id (last 4): "
              << (j.patient_id_suffix.empty() ? "-" : j.patient_id_suffix) << "\n"
              << "  modality: " << (j.modality.empty() ? "-" : j.modality) << "\n"
              << "  instances: listed " << std::max(j.expected_count, 0) << ", received "
              << v->progress.received << ", de-identified " << v->progress.deidentified
              << ", uploaded " << v->progress.uploaded << "\n"
              << "  moves: " << j.move_rounds << " (last response: completed " << j.move_completed
              << ", remaining " << j.move_remaining << ")\n"
              << "  attempts: " << j.attempts << "\n"
              << "  link: " << (j.viewer_url.empty() ? "-" : j.viewer_url) << "\n"
              << "  access code: " << (j.access_code.empty() ? "-" : j.access_code) << "\n"
              << "  expires: " << (j.expires_at.empty() ? "-" : j.expires_at) << "\n"
              << "  error: " << (j.last_error.empty() ? "-" : j.last_error) << "\n";
    return j.stage == gw::stage::kFailed ? kExitFailure : kExitOk;
  }
  auto jobs = tools->control->Jobs(50);
  if (!jobs.ok()) return Fail(jobs.status().ToString());
  std::cout << fmt::format("{:>5}  {:<4}  {:<12}  {:<16}  {:>9} {:>4} {:>4}  {:<4} {:<4}\n", "JOB",
                           "KIND", "STAGE", "THREAD", "RECV/ALL", "DEID", "UPL", "PID4", "MOD");
  for (const gw::JobView& v : *jobs) std::cout << gw::FormatJobLine(v) << "\n";
  // Spool use: identified images waiting (spool) and de-identified copies waiting (outbox).
  for (const auto& [label, dir] : {std::pair{"spool", o.storage.spool_directory},
                                   std::pair{"outbox", o.storage.data_directory / "outbox"}}) {
    std::uint64_t bytes = 0, files = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code size_ec;
      if (!it->is_regular_file(size_ec)) continue;
      const auto size = it->file_size(size_ec);
      if (size_ec) continue;
      bytes += size;
      ++files;
    }
    const auto space = fs::space(dir, ec);
    std::cout << fmt::format("{}: {} in {} files ({}), {} free\n", label,
                             tsunagu::common::FormatByteSize(bytes), files, dir.string(),
                             ec ? "?" : tsunagu::common::FormatByteSize(space.available));
  }
  return kExitOk;
}

// tsunagu-gateway retry JOB: a failed job runs again from the stage it failed in.
int RunRetry(const tsunagu::config::GatewayOptions& o, gw::JobId id) {
  auto tools = OpenTools(o, false);
  if (!tools.ok()) return Fail(tools.status().ToString());
  const auto st = tools->store->RetryFailed(id);
  if (!st.ok()) return Fail(st.message());
  auto job = tools->store->GetJob(id);
  if (!job.ok()) return Fail(job.status().ToString());
  std::cout << Pick(o.language,
                    fmt::format("ジョブ {} を段階 {} から再実行します\n", id.value(), job->stage),
                    fmt::format("job {} will run again from stage {}\n", id.value(), job->stage));
  return kExitOk;
}

// tsunagu-gateway cancel JOB: the job ends before its link is posted, and its spool and outbox
// files are deleted.
int RunCancel(const tsunagu::config::GatewayOptions& o, gw::JobId id) {
  auto tools = OpenTools(o, false);
  if (!tools.ok()) return Fail(tools.status().ToString());
  auto instances = tools->store->Cancel(id, tools->clock->SystemNow());
  if (!instances.ok() && instances.status().code() == tsunagu::common::ErrorCode::kUnavailable) {
    // A worker holds the job (a C-MOVE in progress, say): ask it to stop. It checks between
    // stages and after each instance the PACS sends, cancels the job and deletes its files.
    if (auto st = tools->store->RequestCancel(id); !st.ok()) return Fail(st.message());
    std::cerr << Pick(o.language, "ジョブは処理中です。停止を依頼しました...\n",
                      "the job is being worked on; asked its worker to stop...\n");
    const auto until = std::chrono::steady_clock::now() + kCancelWait;
    bool stopped = false;
    while (!stopped && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      auto job = tools->store->GetJob(id);
      if (!job.ok()) return Fail(job.status().ToString());
      if (job->stage == gw::stage::kCleaned || job->stage == gw::stage::kPosted) {
        if (job->last_error.rfind("cancelled:", 0) != 0) {
          return Fail(fmt::format("job {} ended as {} before it could be cancelled", id.value(),
                                  job->stage));
        }
        std::cout << Pick(o.language,
                          fmt::format("ジョブ {} を取り消しました (処理中のワーカーが停止し、"
                                      "ファイルを削除しました)。リンクは投稿されません\n",
                                      id.value()),
                          fmt::format("job {} cancelled (its worker stopped and deleted its "
                                      "files); no link will be posted\n",
                                      id.value()));
        return kExitOk;
      }
      // The worker may have let the job go (a retry with backoff, a failure) without seeing the
      // request: then cancel it here, as for a job nobody holds.
      instances = tools->store->Cancel(id, tools->clock->SystemNow());
      if (instances.ok()) {
        stopped = true;
      } else if (instances.status().code() != tsunagu::common::ErrorCode::kUnavailable) {
        return Fail(instances.status().message());
      }
    }
    if (!stopped) {
      std::cerr << Pick(o.language,
                        fmt::format("tsunagu-gateway: ジョブ {} の停止を依頼済みですが、{} 秒以内に"
                                    "止まりませんでした。ワーカーは次の段階か次の画像で止まります "
                                    "(status で確認)\n",
                                    id.value(), kCancelWait.count()),
                        fmt::format("tsunagu-gateway: job {}: cancel requested, but its worker did "
                                    "not stop within {} s; it stops at its next stage or instance "
                                    "(see status)\n",
                                    id.value(), kCancelWait.count()));
      return kExitTimeout;
    }
  }
  if (!instances.ok()) return Fail(instances.status().message());
  auto cleaned = gw::RemoveCancelledJobFiles(*tools->store, id, *instances,
                                             o.storage.data_directory / "outbox");
  if (!cleaned.ok()) return Fail(cleaned.status().ToString());
  const int deleted = cleaned->deleted, kept = cleaned->kept;
  std::cout << Pick(
      o.language,
      fmt::format("ジョブ {} を取り消しました (削除したファイル {}、他のジョブが使用中 "
                  "{})。リンクは投稿されません\n",
                  id.value(), deleted, kept),
      fmt::format("job {} cancelled ({} files deleted, {} still used by another "
                  "job); no link will be posted\n",
                  id.value(), deleted, kept));
  return kExitOk;
}

int RunFind(const tsunagu::config::GatewayOptions& o, const tsunagu::common::CliArgs& args) {
  auto tools = OpenTools(o, true);
  if (!tools.ok()) return Fail(tools.status().ToString());
  gw::FindQuery q = QueryFromArgs(args);
  auto rows = tools->control->FindStudies(q);
  if (!rows.ok()) return Fail(rows.status().ToString());
  const Language lang = o.language;
  std::cout << fmt::format("{:<10} {:<8} {:<6} {:<8} {:>5}  {}\n", Pick(lang, "患者ID", "PATIENT"),
                           Pick(lang, "日付", "DATE"), Pick(lang, "時刻", "TIME"),
                           Pick(lang, "種別", "MOD"), Pick(lang, "画像", "IMGS"),
                           Pick(lang, "説明", "DESCRIPTION"));
  for (const gw::StudyRow& r : *rows) {
    std::cout << fmt::format("{:<10} {:<8} {:<6} {:<8} {:>5}  {}\n", r.patient_id_masked,
                             r.study_date, r.study_time, r.modalities,
                             r.instances < 0 ? std::string("?") : std::to_string(r.instances),
                             r.description);
  }
  std::cout << rows->size() << Pick(lang, " 件\n", " studies\n");
  return kExitOk;
}

// tsunagu-gateway ipsec render|status ...
int RunIpsec(const std::vector<std::string>& args) {
  auto command = tsunagu::ipsec::ParseIpsecCommandLine(args, kDefaultConfig);
  if (!command.ok()) {
    std::cerr << "tsunagu-gateway: " << command.status().message() << "\n";
    return kExitUsage;
  }
  auto options = tsunagu::config::LoadGatewayConfig(command->config_path);
  if (!options.ok()) {
    std::cerr << options.status().message() << "\n";
    return kExitUsage;
  }
  return tsunagu::ipsec::RunIpsecCommand(tsunagu::ipsec::Role::kGateway, *command, options->ipsec,
                                         options->language, std::cout, std::cerr);
}

// `tsunagu-gateway chat revoke JOB`: revokes the job's links at the relay and marks its posted
// card revoked; the running service edits the card where the platform can (CardFollowUp).
int RunChatRevoke(const tsunagu::config::GatewayOptions& o, const std::string& job_text) {
  const Language l = o.language;
  char* end = nullptr;
  const long long id = std::strtoll(job_text.c_str(), &end, 10);
  if (end == job_text.c_str() || *end != '\0' || id <= 0) {
    std::cerr << "tsunagu-gateway chat revoke: JOB: expected a job number, got \"" << job_text
              << "\"\n";
    return kExitUsage;
  }
  auto tools = OpenTools(o, false);
  if (!tools.ok()) return Fail(tools.status().ToString());
  auto job = tools->store->GetJob(tsunagu::common::JobId(id));
  if (!job.ok()) return Fail(job.status().ToString());
  if (job->deid_study_uid.empty() || job->viewer_url.empty()) {
    std::cerr << "tsunagu-gateway: "
              << Pick(l, "このジョブにはまだリンクがありません\n", "this job has no link yet\n");
    return kExitFailure;
  }
  auto log = tsunagu::common::MakeStderrLogger("relay-client", spdlog::level::warn);
  const auto st = gw::RevokeRelayLinks(o.relay, tools->clock, log, job->deid_study_uid);
  if (!st.ok()) return Fail(st.ToString());
  std::cout << Pick(l, "ジョブ ", "job ") << id
            << Pick(l, ": リレーのリンクを取り消しました\n", ": links revoked at the relay\n");
  auto posts = tsunagu::chat::PostedCardStore::Open(o.storage.data_directory / "chat-posts.sqlite");
  if (!posts.ok()) return Fail(posts.status().ToString());
  auto posted = (*posts)->Get(id);
  if (!posted.ok()) return Fail(posted.status().ToString());
  if (!posted->has_value()) return kExitOk;
  tsunagu::chat::PostedCard card = **posted;
  card.card.state = tsunagu::chat::CardState::kRevoked;
  card.done = false;
  if (const auto saved = (*posts)->Save(card); !saved.ok()) return Fail(saved.ToString());
  std::cout << Pick(l, "チャットのカードは編集できるプラットフォームで「取り消し」に更新されます\n",
                    "the chat card is marked revoked where the platform can edit it\n");
  return kExitOk;
}

int Run(const std::vector<std::string>& argv) {
  const Language env_lang = tsunagu::common::LanguageFromEnvironment();
  if (!argv.empty() && argv[0] == "chat") {
    // tsunagu-gateway chat list|test THREAD [--config FILE]
    std::vector<std::string> rest;
    std::string config_path = kDefaultConfig;
    for (std::size_t i = 1; i < argv.size(); ++i) {
      if (argv[i] == "--config" && i + 1 < argv.size()) {
        config_path = argv[++i];
      } else if (argv[i].rfind("--config=", 0) == 0) {
        config_path = argv[i].substr(9);
      } else {
        rest.push_back(argv[i]);
      }
    }
    auto options = tsunagu::config::LoadGatewayConfig(config_path);
    if (!options.ok()) {
      std::cerr << options.status().message() << "\n";
      return kExitUsage;
    }
    if (rest.size() == 2 && rest[0] == "revoke") return RunChatRevoke(*options, rest[1]);
    tsunagu::common::SystemClock clock;
    tsunagu::chat::ChatServiceDeps deps;
    deps.clock = &clock;
    std::unique_ptr<tsunagu::chat::PatientThreadStore> rooms;
    if (!rest.empty() && rest[0] == "rooms") {
      auto opened = tsunagu::chat::PatientThreadStore::Open(
          options->storage.data_directory / "chat-rooms.sqlite", &clock);
      if (!opened.ok()) {
        std::cerr << "tsunagu-gateway: " << opened.status().message() << "\n";
        return kExitFailure;
      }
      rooms = std::move(opened).value();
      deps.patient_rooms = rooms.get();
    }
    return tsunagu::chat::RunChatCommand(rest, *options, std::move(deps), std::cout, std::cerr);
  }
  if (!argv.empty() && argv[0] == "doctor") {
    tsunagu::common::CliSpec doctor_spec{{}, {"--config"}, {}};
    auto doctor_args = tsunagu::common::CliArgs::Parse(
        std::vector<std::string>(argv.begin() + 1, argv.end()), doctor_spec);
    if (!doctor_args.ok() || !doctor_args->positional().empty()) {
      std::cerr << "tsunagu-gateway: usage: doctor [--config FILE]\n";
      return kExitUsage;
    }
    return tsunagu::gateway::RunDoctor(doctor_args->Option("--config").value_or(kDefaultConfig),
                                       env_lang, std::cout);
  }
  if (!argv.empty() && argv[0] == "ipsec") {
    return RunIpsec(std::vector<std::string>(argv.begin() + 1, argv.end()));
  }
  if (!argv.empty() && (argv[0] == "backup" || argv[0] == "restore")) {
    return gw::RunBackupCommand(argv[0] == "restore",
                                std::vector<std::string>(argv.begin() + 1, argv.end()),
                                kDefaultConfig, std::cout, std::cerr);
  }
  tsunagu::common::CliSpec spec{{"--help", "--version", "--check", "--no-wait"},
                                {"--config", "--study-uid", "--accession", "--patient-id", "--date",
                                 "--thread", "--note", "--modality", "--timeout"},
                                {}};
  auto args = tsunagu::common::CliArgs::Parse(argv, spec);
  if (!args.ok()) {
    std::cerr << "tsunagu-gateway: " << args.status().message() << " (see --help)\n";
    return kExitUsage;
  }
  if (args->Flag("--help")) {
    PrintHelp(env_lang);
    return kExitOk;
  }
  if (args->Flag("--version")) {
    std::cout << "tsunagu-gateway " << tsunagu::common::Version() << "\n";
    return kExitOk;
  }
  std::string command;
  if (!args->positional().empty()) command = args->positional().front();
  if (!command.empty() && command != "send" && command != "status" && command != "find" &&
      command != "retry" && command != "cancel") {
    std::cerr << "tsunagu-gateway: unexpected argument " << command << " (see --help)\n";
    return kExitUsage;
  }
  const bool takes_job = command == "status" || command == "retry" || command == "cancel";
  if ((command == "retry" || command == "cancel") && args->positional().size() != 2) {
    std::cerr << "tsunagu-gateway: " << command << " needs one JOB (see --help)\n";
    return kExitUsage;
  }
  std::optional<gw::JobId> job_arg;
  if (command == "retry" || command == "cancel") {
    const std::string& text = args->positional()[1];
    char* end = nullptr;
    const long long id = std::strtoll(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != '\0' || id <= 0) {
      std::cerr << "tsunagu-gateway " << command << ": JOB: expected a job number, got \"" << text
                << "\"\n";
      return kExitUsage;
    }
    job_arg = gw::JobId(id);
  }
  if (!takes_job && args->positional().size() > 1) {
    std::cerr << "tsunagu-gateway: unexpected argument " << args->positional()[1]
              << " (see --help)\n";
    return kExitUsage;
  }
  const std::string config_path = args->Option("--config").value_or(kDefaultConfig);
  auto options = tsunagu::config::LoadGatewayConfig(config_path);
  if (!options.ok()) {
    std::cerr << options.status().message() << "\n";
    return kExitUsage;
  }
  if (args->Flag("--check")) {
    std::cout << config_path << ": "
              << Pick(options->language, "設定は正常です", "configuration is valid") << "\n";
    return kExitOk;
  }
  if (command == "send") return RunSend(*options, *args);
  if (command == "status") return RunStatus(*options, *args);
  if (command == "find") return RunFind(*options, *args);
  if (command == "retry") return RunRetry(*options, *job_arg);
  if (command == "cancel") return RunCancel(*options, *job_arg);
  return RunService(*options, config_path);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tsunagu-gateway: internal error: %s\n", e.what());
    return kExitFailure;
  }
}
