#include "doctor.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/oflog/oflog.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "relay_probe.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/doctor.h"
#include "tsunagu/common/doctor_checks.h"
#include "tsunagu/common/secret_file.h"
#include "tsunagu/config/gateway_options.h"
#include "tsunagu/gateway/job_store.h"
#include "tsunagu/gateway/pacs_client.h"
#include "tsunagu/gateway/pipeline.h"
#include "tsunagu/gateway/spool_volume.h"
#include "tsunagu/ipsec/doctor_check.h"

namespace tsunagu::gateway {

using common::CheckLevel;
using common::CheckResult;
using common::DoctorCheck;
using common::Pick;

namespace {

std::string S(common::Language lang, std::string_view ja, std::string_view en) {
  return std::string(Pick(lang, ja, en));
}

std::string UtcMinute(std::int64_t ms) {
  const time_t t = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return buf;
}

// A retired site secret (anonymizer.previous_secret_files[i]): private, not the current one, and
// still needed? It is needed while a study de-identified under it can be sent again with the same
// UIDs and still be at the relay: until the newest job that used it plus the longest retention
// (the relay's default of 3 days, or a thread's longer one) plus a day.
CheckResult CheckPreviousSecret(const config::GatewayOptions& o, size_t i,
                                const common::Clock& clock, common::Language lang) {
  const std::filesystem::path& file = o.anonymizer.previous_secret_files[i];
  CheckResult r = common::CheckSecret(file, lang);
  if (r.level != CheckLevel::kOk) return r;
  auto secret = common::ReadSecretFile(file);
  if (!secret.ok()) return {CheckLevel::kFailed, secret.status().message(), ""};
  const std::string id = SecretGenerationId(*secret);
  if (auto current = common::ReadSecretFile(o.anonymizer.secret_file);
      current.ok() && SecretGenerationId(*current) == id) {
    return {CheckLevel::kFailed,
            S(lang, "現在の secret_file と同じ秘密鍵です: ", "the same secret as secret_file: ") +
                file.string(),
            S(lang, "secret_file に新しい秘密鍵を置き、古い方をここに残してください",
              "put the new secret in secret_file and keep the old one here")};
  }
  std::chrono::milliseconds keep = std::chrono::hours(24 * 3);
  for (const auto& t : o.threads) {
    if (t.retention) keep = std::max(keep, *t.retention);
  }
  keep += std::chrono::hours(24);
  const int keep_days = static_cast<int>((keep.count() + 86'399'999) / 86'400'000);
  const std::filesystem::path db = o.storage.data_directory / "gateway.db";
  std::optional<std::int64_t> last;
  std::error_code ec;
  if (std::filesystem::exists(db, ec)) {
    auto l = LastUseOfSecret(db, id);
    if (!l.ok()) return {CheckLevel::kWarning, l.status().message(), ""};
    last = *l;
  }
  const std::string head = "id " + id + ": ";
  if (!last) {
    return {CheckLevel::kOk,
            head +
                S(lang, "この秘密鍵を使ったジョブの記録はありません。ローテーションから ",
                  "no job recorded as using it; drop it ") +
                std::to_string(keep_days) + S(lang, " 日後に外せます", " days after the rotation"),
            ""};
  }
  const std::int64_t until = *last + keep.count();
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.SystemNow().time_since_epoch())
          .count();
  if (now > until) {
    return {CheckLevel::kWarning,
            head + S(lang, "最後の使用 ", "last used ") + UtcMinute(*last) +
                S(lang, "。", "; not needed since ") + UtcMinute(until) +
                S(lang, " 以降は不要です", ""),
            S(lang,
              "previous_secret_files から外して再起動し、ファイルを安全に削除してください "
              "(docs/operations.md)",
              "remove it from previous_secret_files, restart, then delete the file "
              "(docs/operations.md)")};
  }
  return {CheckLevel::kOk,
          head + S(lang, "最後の使用 ", "last used ") + UtcMinute(*last) +
              S(lang, "。保持期限 ", "; keep until ") + UtcMinute(until),
          ""};
}

// C-ECHO to the PACS, with the configured time limits.
CheckResult CheckPacs(const config::GatewayOptions& o, common::Language lang) {
  if (!o.pacs) {
    return {CheckLevel::kOk, S(lang, "設定なし (受信のみ)", "not configured (receive only)"), ""};
  }
  PacsClientOptions p;
  p.own_ae_title = o.dicom.ae_title;
  p.peer_host = o.pacs->host;
  p.peer_port = o.pacs->port;
  p.peer_ae_title = o.pacs->ae_title;
  p.acse_timeout = std::min(o.dicom.acse_timeout, std::chrono::milliseconds(10'000));
  p.dimse_timeout = std::min(o.pacs->dimse_timeout, std::chrono::milliseconds(10'000));
  const std::string where =
      o.pacs->ae_title + "@" + o.pacs->host + ":" + std::to_string(o.pacs->port);
  OFLog::configure(OFLogger::OFF_LOG_LEVEL);  // the row says what happened; no DCMTK chatter
  const common::Status st = MakeDcmtkPacsClient(p)->Echo();
  if (st.ok()) return {CheckLevel::kOk, "C-ECHO " + where, ""};
  return {CheckLevel::kFailed, "C-ECHO " + where + ": " + st.message(),
          S(lang,
            "PACSが動いているか、[pacs] の host/port/ae_title、PACS側にこのゲートウェイ (AE " +
                o.dicom.ae_title + ") が登録されているかを確認 (手順書「PACSが止まった」)",
            "check that the PACS is up, [pacs] host/port/ae_title, and that the PACS knows this "
            "gateway (AE " +
                o.dicom.ae_title + ") (runbook: PACS down)")};
}

CheckResult CheckRelay(const RelayProbeResult& probe, const std::string& url,
                       common::Language lang) {
  if (probe.answer) {
    if (probe.answer->http_status == 200) {
      return {CheckLevel::kOk, url + S(lang, " (相互TLS, 応答 200)", " (mutual TLS, answer 200)"),
              ""};
    }
    return {CheckLevel::kFailed,
            url + S(lang, " の応答: ", " answered ") + std::to_string(probe.answer->http_status),
            S(lang, "リレー側で tsunagu-relay doctor とログ (journalctl -u tsunagu-relay) を確認",
              "run tsunagu-relay doctor on the relay and read journalctl -u tsunagu-relay")};
  }
  const RelayProbeFailure& f = probe.failure;
  std::string fix;
  if (f.stage == RelayProbeStage::kConnect) {
    fix = S(lang,
            "relay.url、ファイアウォール、IPsecトンネル (上の行) とリレーが動いているかを確認 "
            "(手順書「トンネルが落ちた」)",
            "check relay.url, the firewall, the IPsec tunnel (row above) and that the relay runs "
            "(runbook: tunnel down)");
  } else if (f.server_certificate_rejected) {
    fix = S(lang, "relay.ca_file がリレーのサーバー証明書の発行元か、証明書のホスト名を確認",
            "check that relay.ca_file issued the relay's server certificate and the name in it");
  } else {
    fix = S(lang,
            "リレーの allowed_clients と client_ca_file にこのゲートウェイの証明書が登録されて"
            "いるか、relay.client_cert_file/client_key_file を確認 (手順書「証明書の更新」)",
            "check that the relay enrols this gateway's certificate (allowed_clients, "
            "client_ca_file) and relay.client_cert_file/client_key_file (runbook: certificates)");
  }
  return {CheckLevel::kFailed, f.detail, fix};
}

// One connector's credential files: present and private. No platform call: the only call every
// platform has is posting, which would put a card in a real thread.
CheckResult CheckChatCredentials(const config::ChatConnectorOptions& c, common::Language lang) {
  int files = 0;
  for (const std::filesystem::path* p :
       {&c.url_file, &c.secret_file, &c.access_token_file, &c.client_secret_file,
        &c.private_key_file, &c.token_file, &c.password_file}) {
    if (p->empty()) continue;
    ++files;
    CheckResult r = common::CheckSecret(*p, lang);
    if (r.level != CheckLevel::kOk) return r;
  }
  return {CheckLevel::kOk,
          std::to_string(files) +
              S(lang,
                " 個の認証情報ファイル (他のユーザーは読めません)。投稿の確認: tsunagu-gateway "
                "chat test スレッド名",
                " credential file(s), not readable by others; to try a post: tsunagu-gateway "
                "chat test THREAD"),
          ""};
}

}  // namespace

int RunDoctor(const std::string& config_path, common::Language fallback, std::ostream& out) {
  // File problems are reported row by row below, so load without the loader's file checks.
  auto options = config::LoadGatewayConfig(config_path, config::LoadOptions{.check_files = false});
  if (!options.ok()) {
    return common::RunDoctor(common::ConfigErrorChecks(options.status().message(), fallback),
                             fallback, out);
  }
  const config::GatewayOptions& o = *options;
  const common::Language lang = o.language;
  auto clock = std::make_shared<common::SystemClock>();
  auto label = [lang](std::string_view ja, std::string_view en) {
    return std::string(Pick(lang, ja, en));
  };
  // One probe serves two rows (reachability, clock skew); run when the first of them runs.
  auto probe = std::make_shared<std::optional<RelayProbeResult>>();
  auto run_probe = [&o, probe, clock]() -> const RelayProbeResult& {
    if (!*probe) {
      *probe = ProbeRelay({.url = o.relay.url,
                           .ca_file = o.relay.ca_file,
                           .client_cert_file = o.relay.client_cert_file,
                           .client_key_file = o.relay.client_key_file,
                           .timeout = std::chrono::seconds(5)},
                          *clock);
    }
    return **probe;
  };
  std::vector<DoctorCheck> checks = {
      {label("設定", "config"),
       [&] {
         return CheckResult{CheckLevel::kOk, config_path, ""};
       }},
      {label("UID用サイト秘密鍵", "site secret (UIDs)"),
       [&] { return common::CheckSecret(o.anonymizer.secret_file, lang); }},
      {label("リレー用クライアント証明書", "relay client certificate"),
       [&, clock] { return common::CheckCertificate(o.relay.client_cert_file, *clock, lang); }},
      {label("リレー用クライアント鍵", "relay client key"),
       [&] { return common::CheckSecret(o.relay.client_key_file, lang); }},
      {label("リレーのCA証明書", "relay CA certificate"),
       [&, clock] { return common::CheckCertificate(o.relay.ca_file, *clock, lang); }},
      {label("スプールの空き容量", "spool disk space"),
       [&] {
         return common::CheckFreeSpace(o.storage.spool_directory, o.storage.spool_min_free_bytes,
                                       lang);
       }},
      {label("スプールの暗号化", "spool encryption"),
       [&] {
         auto v = SpoolVolumeEncryption(o.storage.spool_directory);
         if (!v.ok()) {
           return CheckResult{CheckLevel::kWarning,
                              label("スプールのディレクトリがありません: ",
                                    "the spool directory does not exist: ") +
                                  o.storage.spool_directory.string(),
                              ""};
         }
         if (v->encrypted) {
           return CheckResult{CheckLevel::kOk,
                              label("暗号化ボリューム上: ", "on an encrypted volume: ") + v->device,
                              ""};
         }
         return CheckResult{
             CheckLevel::kWarning,
             label("識別情報を含むスプールが暗号化されていないデバイス上にあります: ",
                   "the spool (identified data) is not on an encrypted volume: ") +
                 v->device,
             label("spool_directory を dm-crypt/LUKS で暗号化したボリュームに置いてください",
                   "put spool_directory on a dm-crypt/LUKS encrypted volume")};
       }},
      {label("IPsecトンネル", "IPsec tunnel"),
       [&] { return ipsec::CheckTunnel(o.ipsec, o.transport.require_ipsec, lang); }},
      {label("PACS (C-ECHO)", "PACS (C-ECHO)"), [&] { return CheckPacs(o, lang); }},
      {label("リレーへの接続", "relay reachable"),
       [&] { return CheckRelay(run_probe(), o.relay.url, lang); }},
      {label("リレーとの時刻差", "clock skew with the relay"),
       [&]() -> CheckResult {
         const RelayProbeResult& r = run_probe();
         if (!r.answer) {
           return {CheckLevel::kWarning,
                   S(lang, "リレーに接続できないため測れません", "not measured: relay unreachable"),
                   S(lang, "上の「リレーへの接続」を先に直す", "fix \"relay reachable\" first")};
         }
         if (!r.answer->clock_skew) {
           return {CheckLevel::kWarning,
                   S(lang, "リレーが時刻を返しません (古いリリース)",
                     "the relay does not report its time (older release)"),
                   S(lang, "リレーを更新する", "upgrade the relay")};
         }
         return common::CheckClockSkew(*r.answer->clock_skew, lang);
       }},
      {label("ジョブDB (SQLite)", "job store (SQLite)"),
       [&] {
         return common::CheckSqliteStore(o.storage.data_directory / "gateway.db", &JobStoreSchema(),
                                         lang);
       }},
      {label("チャットルームDB (SQLite)", "chat room store (SQLite)"),
       [&] {
         return common::CheckSqliteStore(o.storage.data_directory / "chat-rooms.sqlite", nullptr,
                                         lang);
       }},
  };
  for (size_t i = 0; i < o.anonymizer.previous_secret_files.size(); ++i) {
    checks.insert(checks.begin() + 2 + static_cast<std::ptrdiff_t>(i),
                  {label("退役したサイト秘密鍵 ", "retired site secret ") + std::to_string(i + 1),
                   [&o, i, clock, lang] { return CheckPreviousSecret(o, i, *clock, lang); }});
  }
  for (const config::ChatConnectorOptions& c : o.chat.connectors) {
    checks.push_back({label("チャット認証情報: ", "chat credentials: ") + c.name,
                      [&c, lang] { return CheckChatCredentials(c, lang); }});
  }
  return common::RunDoctor(checks, lang, out);
}

}  // namespace tsunagu::gateway
