#include "doctor.h"

#include "tsunagu/common/clock.h"
#include "tsunagu/common/doctor.h"
#include "tsunagu/config/gateway_options.h"
#include "tsunagu/gateway/spool_volume.h"
#include "tsunagu/ipsec/doctor_check.h"

namespace tsunagu::gateway {

using common::CheckLevel;
using common::CheckResult;
using common::DoctorCheck;
using common::Pick;

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
  };
  return common::RunDoctor(checks, lang, out);
}

}  // namespace tsunagu::gateway
