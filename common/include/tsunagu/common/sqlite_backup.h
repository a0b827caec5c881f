// Online backup, restore and integrity check of one SQLite database file, through SQLite's own
// backup API (https://sqlite.org/backup.html), so a backup taken while the service runs is a
// consistent snapshot. Used by `tsunagu-gateway backup|restore` and `tsunagu-relay
// backup|restore` and by both doctors.
#ifndef TSUNAGU_COMMON_SQLITE_BACKUP_H_
#define TSUNAGU_COMMON_SQLITE_BACKUP_H_

#include <chrono>
#include <filesystem>
#include <string>

#include "tsunagu/common/result.h"
#include "tsunagu/common/sqlite_schema.h"
#include "tsunagu/common/status.h"

namespace tsunagu::common {

struct BackupInfo {
  int schema_version = 0;
  std::uint64_t bytes = 0;
};

// Copies the database at `database` (which may be open and written by a running service; WAL
// readers do not block its writers) to `destination` as one self-contained file (rollback
// journal mode, no -wal beside it), mode 0600, written under a temporary name, checked with
// PRAGMA quick_check, fsynced and renamed into place: `destination` is either the whole backup or
// untouched. Waits at most `timeout` for a lock. Errors: kNotFound when `database` does not
// exist, kAlreadyExists when `destination` does, kUnavailable on timeout, others from SQLite or
// the file system.
Result<BackupInfo> BackupDatabase(const std::filesystem::path& database,
                                  const std::filesystem::path& destination,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Replaces the contents of `database` with the backup at `backup`. The backup must pass
// quick_check and have a schema version this release knows (not newer than schema.latest(); an
// older one is migrated when the service next opens it). The service must be stopped: when another
// connection has the database open, this fails with kFailedPrecondition and changes nothing.
// Before overwriting, the current database (if any) is saved as `<database>.before-restore`
// (replacing an older such file). Returns the backup's schema version.
Result<int> RestoreDatabase(const std::filesystem::path& backup,
                            const std::filesystem::path& database, const Schema& schema);

// PRAGMA quick_check on `database`, opened read-only (safe while the service runs). Returns "ok"
// or SQLite's first complaint. Errors: kNotFound when the file does not exist; kDataLoss when it
// is not a database; kUnavailable when it stays locked.
Result<std::string> QuickCheckDatabase(const std::filesystem::path& database);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_SQLITE_BACKUP_H_
