#include "tsunagu/common/doctor_checks.h"

#include <sqlite3.h>

#include <cstdlib>
#include <string>

#include "tsunagu/common/sqlite_backup.h"

namespace tsunagu::common {

namespace {
std::string S(Language lang, std::string_view ja, std::string_view en) {
  return std::string(Pick(lang, ja, en));
}
}  // namespace

CheckResult CheckSqliteStore(const std::filesystem::path& database, const Schema* schema,
                             Language lang) {
  std::error_code ec;
  if (!std::filesystem::exists(database, ec)) {
    return {CheckLevel::kOk,
            database.string() + S(lang, " (まだ作成されていません。初回起動時に作成)",
                                  " (not created yet; made at the first start)"),
            ""};
  }
  const std::string restore_fix =
      S(lang, "サービスを止め、最新のバックアップを restore で戻す (手順書「データベースの破損」)",
        "stop the service and put the latest backup back with `restore` (runbook: damaged "
        "database)");
  auto check = QuickCheckDatabase(database);
  if (!check.ok()) {
    if (check.status().code() == ErrorCode::kUnavailable) {
      return {CheckLevel::kWarning,
              database.string() +
                  S(lang, ": ロック中のため確認できません: ", ": locked, could not be checked: ") +
                  check.status().message(),
              S(lang, "しばらくしてもう一度 doctor を実行", "run doctor again in a minute")};
    }
    if (check.status().code() == ErrorCode::kPermissionDenied) {
      return {CheckLevel::kFailed, check.status().message(),
              S(lang, "サービスのユーザーで実行するか、ファイルの所有者を確認",
                "run doctor as the service's user, or check the file's owner")};
    }
    return {CheckLevel::kFailed, check.status().message(), restore_fix};
  }
  if (*check != "ok") {
    return {CheckLevel::kFailed,
            database.string() + S(lang, ": 整合性チェック失敗: ", ": integrity check failed: ") +
                *check,
            restore_fix};
  }
  std::string detail = database.string();
  if (schema != nullptr) {
    sqlite3* db = nullptr;
    int version = -1;
    if (sqlite3_open_v2(database.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      auto v = ReadSchemaVersion(db);
      if (v.ok()) version = *v;
    }
    sqlite3_close_v2(db);
    if (version > schema->latest()) {
      return {CheckLevel::kFailed,
              database.string() + S(lang, ": 新しいリリースのスキーマ ", ": schema ") +
                  std::to_string(version) +
                  S(lang, " (このリリースは ", " from a newer release (this one knows up to ") +
                  std::to_string(schema->latest()) + S(lang, " まで)", ")"),
              S(lang, "新しいリリースを入れ直すか、アップグレード前のバックアップを戻す",
                "reinstall the newer release, or restore a backup taken before the upgrade")};
    }
    detail += S(lang, " (スキーマ ", " (schema ") + std::to_string(version) + ")";
  }
  return {CheckLevel::kOk, detail, ""};
}

CheckResult CheckClockSkew(std::chrono::milliseconds skew, Language lang,
                           std::chrono::milliseconds warn, std::chrono::milliseconds fail) {
  const auto magnitude = std::chrono::milliseconds(std::llabs(skew.count()));
  const std::string detail = S(lang, "相手との時刻差 ", "peer clock minus ours: ") +
                             std::to_string(skew.count() / 1000) + S(lang, " 秒", " s");
  const std::string fix =
      S(lang, "両方のサーバーで NTP (systemd-timesyncd か chrony) を有効にし `timedatectl` で確認",
        "enable NTP on both servers (systemd-timesyncd or chrony) and check with `timedatectl`");
  if (magnitude > fail) return {CheckLevel::kFailed, detail, fix};
  if (magnitude > warn) return {CheckLevel::kWarning, detail, fix};
  return {CheckLevel::kOk, detail, ""};
}

}  // namespace tsunagu::common
