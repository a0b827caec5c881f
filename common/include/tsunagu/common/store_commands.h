// The `backup FILE` and `restore FILE` subcommands both services share: argument checks, the
// SQLite online backup, and what they print (in Japanese or English).
#ifndef TSUNAGU_COMMON_STORE_COMMANDS_H_
#define TSUNAGU_COMMON_STORE_COMMANDS_H_

#include <filesystem>
#include <ostream>
#include <string>

#include "tsunagu/common/language.h"
#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::common {

// One SQLite store a service can back up.
struct StoreToBackUp {
  std::string service;   // "tsunagu-gateway": for messages ("systemctl stop tsunagu-gateway")
  std::string label_ja;  // "ジョブDB"
  std::string label_en;  // "job store"
  std::filesystem::path database;
  const Schema* schema = nullptr;
};

inline constexpr int kStoreCommandOk = 0;
inline constexpr int kStoreCommandFailed = 1;

// Writes a consistent copy of the store to `file` while the service may run. Prints one line to
// `out` on success (file, schema version, size) or one reason to `err`. Returns 0 or 1.
int RunStoreBackup(const StoreToBackUp& store, const std::filesystem::path& file, Language lang,
                   std::ostream& out, std::ostream& err);

// Replaces the store with the backup in `file` (the service must be stopped; the replaced
// database is kept as <database>.before-restore). Prints what happened and what to do next.
// Returns 0 or 1.
int RunStoreRestore(const StoreToBackUp& store, const std::filesystem::path& file, Language lang,
                    std::ostream& out, std::ostream& err);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_STORE_COMMANDS_H_
