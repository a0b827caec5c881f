#include "doctor.h"

#include <sstream>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/doctor.h"
#include "tsunagu/config/relay_options.h"
#include "tsunagu/ipsec/doctor_check.h"

namespace tsunagu::relay {

using common::CheckLevel;
using common::CheckResult;
using common::DoctorCheck;
using common::Pick;

namespace {
// The store needs room for at least one large study beyond what it holds.
constexpr std::uint64_t kMinFreeBytes = 4ULL << 30;
}  // namespace

int RunDoctor(const std::string& config_path, common::Language fallback, std::ostream& out) {
  auto options = config::LoadRelayConfig(config_path, config::LoadOptions{.check_files = false});
  if (!options.ok()) {
    std::vector<DoctorCheck> checks;
    std::istringstream lines(options.status().message());
    for (std::string line; std::getline(lines, line);) {
      checks.push_back({std::string(Pick(fallback, "設定", "config")), [line, fallback] {
                          return CheckResult{CheckLevel::kFailed, line,
                                             std::string(Pick(fallback, "設定ファイルを修正",
                                                              "correct the configuration file"))};
                        }});
    }
    return common::RunDoctor(checks, fallback, out);
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
      {label("保存領域の空き容量", "store disk space"),
       [&] { return common::CheckFreeSpace(o.store.data_directory, kMinFreeBytes, lang); }},
      {label("IPsecトンネル", "IPsec tunnel"),
       [&] { return ipsec::CheckTunnel(o.ipsec, false, lang); }},
  };
  return common::RunDoctor(checks, lang, out);
}

}  // namespace tsunagu::relay
