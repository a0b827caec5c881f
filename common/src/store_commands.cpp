#include "tsunagu/common/store_commands.h"

#include "tsunagu/common/sqlite_backup.h"

namespace tsunagu::common {

int RunStoreBackup(const StoreToBackUp& store, const std::filesystem::path& file, Language lang,
                   std::ostream& out, std::ostream& err) {
  auto info = BackupDatabase(store.database, file);
  if (!info.ok()) {
    err << store.service << ": " << Pick(lang, "バックアップできません: ", "backup failed: ")
        << info.status().message() << "\n";
    return kStoreCommandFailed;
  }
  if (lang == Language::kJapanese) {
    out << store.label_ja << " を " << file.string() << " にバックアップしました (スキーマ "
        << info->schema_version << ", " << info->bytes << " バイト)\n";
  } else {
    out << "backed up the " << store.label_en << " to " << file.string() << " (schema "
        << info->schema_version << ", " << info->bytes << " bytes)\n";
  }
  return kStoreCommandOk;
}

int RunStoreRestore(const StoreToBackUp& store, const std::filesystem::path& file, Language lang,
                    std::ostream& out, std::ostream& err) {
  auto version = RestoreDatabase(file, store.database, *store.schema);
  if (!version.ok()) {
    err << store.service << ": " << Pick(lang, "リストアできません: ", "restore failed: ")
        << version.status().message() << "\n";
    if (version.status().code() == ErrorCode::kFailedPrecondition) {
      err << Pick(lang, "対処: ", "what to do: ") << "systemctl stop " << store.service
          << Pick(lang, " の後にもう一度実行してください", " and run this again") << "\n";
    }
    return kStoreCommandFailed;
  }
  const std::string kept = store.database.string() + ".before-restore";
  if (lang == Language::kJapanese) {
    out << file.string() << " から " << store.label_ja << " をリストアしました (スキーマ "
        << *version << ")。置き換えた内容は " << kept << " に残しました。\n"
        << "次に: systemctl start " << store.service << " (古いスキーマは起動時に更新されます)\n";
  } else {
    out << "restored the " << store.label_en << " from " << file.string() << " (schema " << *version
        << "); the database it replaced is kept as " << kept << ".\n"
        << "next: systemctl start " << store.service
        << " (an older schema is upgraded when it starts)\n";
  }
  return kStoreCommandOk;
}

}  // namespace tsunagu::common
