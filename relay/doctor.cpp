#include "doctor.h"

#include <filesystem>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/doctor.h"
#include "tsunagu/common/doctor_checks.h"
#include "tsunagu/config/relay_options.h"
#include "tsunagu/ipsec/doctor_check.h"
#include "tsunagu/retention/study_store.h"

namespace tsunagu::relay {

using common::CheckLevel;
using common::CheckResult;
using common::DoctorCheck;
using common::Pick;

namespace {
// The store needs room for at least one large study beyond what it holds.
constexpr std::uint64_t kMinFreeBytes = 4ULL << 30;

// The web viewer's files, served under /v/<token>/: without them every link shows nothing.
CheckResult CheckViewerAssets(const std::filesystem::path& dir, common::Language lang) {
  for (const char* name : {"index.html", "viewer.js", "viewer.css", "i18n.js", "geometry.js"}) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(dir / name, ec)) {
      return CheckResult{
          CheckLevel::kFailed,
          (dir / name).string() + std::string(Pick(lang, " がありません", " is missing")),
          std::string(Pick(lang,
                           "tsunagu-relay パッケージを入れ直すか viewer.assets_directory "
                           "を修正",
                           "reinstall the tsunagu-relay package or fix "
                           "viewer.assets_directory"))};
    }
  }
  return CheckResult{CheckLevel::kOk, dir.string(), ""};
}
}  // namespace

int RunDoctor(const std::string& config_path, common::Language fallback, std::ostream& out) {
  auto options = config::LoadRelayConfig(config_path, config::LoadOptions{.check_files = false});
  if (!options.ok()) {
    return common::RunDoctor(common::ConfigErrorChecks(options.status().message(), fallback),
                             fallback, out);
  }
  const config::RelayOptions& o = *options;
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
      {label("アップロード用サーバー証明書", "upload server certificate"),
       [&, clock] { return common::CheckCertificate(o.upload.cert_file, *clock, lang); }},
      {label("アップロード用サーバー鍵", "upload server key"),
       [&] { return common::CheckSecret(o.upload.key_file, lang); }},
      {label("ゲートウェイのCA証明書", "gateway CA certificate"),
       [&, clock] { return common::CheckCertificate(o.upload.client_ca_file, *clock, lang); }},
      {label("ビューア用サーバー証明書", "viewer server certificate"),
       [&, clock] { return common::CheckCertificate(o.viewer.cert_file, *clock, lang); }},
      {label("ビューア用サーバー鍵", "viewer server key"),
       [&] { return common::CheckSecret(o.viewer.key_file, lang); }},
      {label("ビューアのファイル", "web viewer files"),
       [&] { return CheckViewerAssets(o.viewer.assets_directory, lang); }},
      {label("保存領域の空き容量", "store disk space"),
       [&] { return common::CheckFreeSpace(o.store.data_directory, kMinFreeBytes, lang); }},
      {label("IPsecトンネル", "IPsec tunnel"),
       [&] { return ipsec::CheckTunnel(o.ipsec, false, lang); }},
      {label("検査インデックス (SQLite)", "study index (SQLite)"),
       [&] {
         return common::CheckSqliteStore(o.store.data_directory / retention::kIndexFileName,
                                         &retention::StudyIndexSchema(), lang);
       }},
      {label("鍵ストア (SQLite)", "key store (SQLite)"),
       [&] {
         const std::filesystem::path keys = o.store.key_directory.empty()
                                                ? o.store.data_directory / "keys"
                                                : o.store.key_directory;
         return common::CheckSqliteStore(keys / "keys.sqlite", nullptr, lang);
       }},
  };
  return common::RunDoctor(checks, lang, out);
}

}  // namespace tsunagu::relay
