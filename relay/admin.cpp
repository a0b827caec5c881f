#include "admin.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

#include "gateway_contacts.h"
#include "tsunagu/common/cli.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/language.h"
#include "tsunagu/common/units.h"
#include "tsunagu/config/relay_options.h"
#include "tsunagu/retention/index_report.h"

namespace tsunagu::relay {
namespace {

std::string Utc(retention::TimePoint t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

}  // namespace

int RunStudiesCommand(const std::vector<std::string>& args, const std::string& default_config,
                      std::ostream& out, std::ostream& err) {
  auto parsed = common::CliArgs::Parse(args, common::CliSpec{{}, {"--config"}, {}});
  if (!parsed.ok() || !parsed->positional().empty()) {
    err << "tsunagu-relay: usage: studies [--config FILE]\n";
    return 2;
  }
  auto options = config::LoadRelayConfig(parsed->Option("--config").value_or(default_config),
                                         config::LoadOptions{.check_files = false});
  if (!options.ok()) {
    err << options.status().message() << "\n";
    return 2;
  }
  const config::RelayOptions& o = *options;
  const common::Language l = o.language;
  auto pick = [l](std::string_view ja, std::string_view en) { return common::Pick(l, ja, en); };
  common::SystemClock clock;
  auto report = retention::ReadIndexReport(o.store.data_directory, clock.SystemNow());
  if (!report.ok()) {
    err << "tsunagu-relay: " << report.status().message() << "\n";
    return 1;
  }
  const double percent =
      o.store.quota_bytes == 0 ? 0.0 : 100.0 * report->used_bytes / o.store.quota_bytes;
  out << pick("使用量: ", "quota: ") << common::FormatByteSize(report->used_bytes) << " / "
      << common::FormatByteSize(o.store.quota_bytes) << fmt::format(" ({:.1f}%)", percent) << "\n";
  // Enrolled gateways with their last contact (saved by the running relay every second), and
  // gateways seen earlier that are no longer enrolled.
  auto contacts = ReadGatewayContacts(o.store.data_directory / kGatewayContactsFile);
  if (!contacts.ok()) {
    err << "tsunagu-relay: " << contacts.status().message() << "\n";
    contacts = GatewayContactMap{};
  }
  out << pick("登録済みゲートウェイ:", "enrolled gateways:") << "\n";
  out << fmt::format("  {:<40} {}\n", pick("名前 (証明書CN)", "name (certificate CN)"),
                     pick("最終接続 (UTC)", "last contact (UTC)"));
  auto contact_of = [&](const std::string& name) -> std::string {
    const auto it = contacts->find(name);
    return it == contacts->end() ? std::string(pick("(接続なし)", "(never)")) : Utc(it->second);
  };
  for (const std::string& name : o.upload.allowed_clients) {
    out << fmt::format("  {:<40} {}\n", name, contact_of(name));
  }
  for (const auto& [name, t] : *contacts) {
    if (std::find(o.upload.allowed_clients.begin(), o.upload.allowed_clients.end(), name) !=
        o.upload.allowed_clients.end()) {
      continue;
    }
    out << fmt::format("  {:<40} {} {}\n", name, Utc(t),
                       pick("(登録解除済み)", "(no longer enrolled)"));
  }
  out << "\n";
  // The study UID last: de-identified UIDs run to 64 characters.
  out << fmt::format(
      "{:<17} {:<10} {:>6} {:>10} {:>5} {:<17} {:<16} {}\n", pick("期限 (UTC)", "expires (UTC)"),
      pick("状態", "state"), pick("画像", "images"), pick("容量", "size"), pick("リンク", "links"),
      pick("最終閲覧 (UTC)", "last view (UTC)"), pick("スレッド", "thread"), pick("検査", "study"));
  for (const retention::StudySummary& s : report->studies) {
    out << fmt::format("{:<17} {:<10} {:>6} {:>10} {:>5} {:<17} {:<16} {}\n",
                       s.expires_at ? Utc(*s.expires_at) : "-", s.state, s.instances,
                       common::FormatByteSize(s.stored_bytes), s.links,
                       s.last_access ? Utc(*s.last_access) : "-", s.thread, s.study_uid);
  }
  out << pick("検査数: ", "studies: ") << report->studies.size() << "\n\n"
      << pick("最近の削除記録:", "recent deletion receipts:") << "\n";
  for (const retention::DeletionReceipt& r : report->receipts) {
    out << fmt::format("{:<17} {:>6} {:<9} {}\n", Utc(r.deleted_at), r.instance_count, r.reason,
                       r.study_uid);
  }
  if (report->receipts.empty()) out << pick("  (なし)", "  (none)") << "\n";
  return 0;
}

}  // namespace tsunagu::relay
