#include "tsunagu/ipsec/doctor_check.h"

#include "tsunagu/ipsec/render.h"
#include "tsunagu/ipsec/tunnel_monitor.h"

namespace tsunagu::ipsec {

common::CheckResult CheckTunnel(const config::IpsecOptions& options, bool required,
                                common::Language lang) {
  using common::CheckLevel;
  auto text = [lang](std::string_view ja, std::string_view en) {
    return std::string(common::Pick(lang, ja, en));
  };
  if (!options.configured) {
    if (!required) return {CheckLevel::kOk, text("[ipsec] は未設定", "[ipsec] not configured"), ""};
    return {CheckLevel::kFailed,
            text("require_ipsec = true ですが [ipsec] がありません",
                 "require_ipsec = true but there is no [ipsec] section"),
            text("[ipsec] を設定するか、別の機器でトンネルを張る場合は require_ipsec = false に",
                 "configure [ipsec], or set require_ipsec = false if other equipment runs the "
                 "tunnel")};
  }
  auto state = MakeSwanctlTunnelMonitor(options, std::chrono::seconds(5))->Check();
  if (!state.ok()) {
    return {CheckLevel::kFailed, state.status().message(),
            text("charon が動いているか確認: systemctl status tsunagu-charon (docs/ipsec.md)",
                 "check that charon runs: systemctl status tsunagu-charon (docs/ipsec.md)")};
  }
  if (state->up) return {CheckLevel::kOk, state->detail, ""};
  return {CheckLevel::kFailed, TunnelDownError(state->detail).message(),
          text("swanctl --initiate --child " + ChildName(options) +
                   " の出力とファイアウォール (UDP 500/4500) を確認",
               "run swanctl --initiate --child " + ChildName(options) +
                   " and read its log; check UDP 500/4500 in the firewall")};
}

}  // namespace tsunagu::ipsec
