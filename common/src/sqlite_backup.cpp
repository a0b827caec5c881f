#include "tsunagu/common/sqlite_backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <thread>

#include "tsunagu/common/file_system.h"

namespace tsunagu::common {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

Result<DbPtr> OpenDb(const std::filesystem::path& path, int flags, std::string_view what) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK)
    return StatusFromSqliteCode(rc, raw, std::string(what) + " " + path.string());
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

// The first row of PRAGMA quick_check: "ok" or the first problem.
Result<std::string> QuickCheck(sqlite3* db) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return StatusFromSqliteCode(rc, db, "quick_check");
  rc = sqlite3_step(stmt);
  std::string answer;
  if (rc == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    if (text != nullptr) answer = reinterpret_cast<const char*>(text);
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW) return StatusFromSqliteCode(rc, db, "quick_check");
  return answer;
}

// Copies `from`'s main database into `to`'s in one step (one read transaction on the source, so
// in WAL mode writers carry on), retrying a busy lock until `deadline`.
Status CopyPages(sqlite3* to, sqlite3* from, std::chrono::steady_clock::time_point deadline,
                 std::string_view what) {
  sqlite3_backup* backup = sqlite3_backup_init(to, "main", from, "main");
  if (backup == nullptr) return StatusFromSqliteCode(sqlite3_errcode(to), to, what);
  int rc = SQLITE_OK;
  for (;;) {
    rc = sqlite3_backup_step(backup, -1);
    if (rc == SQLITE_DONE) break;
    const int primary = rc & 0xff;
    if ((primary == SQLITE_BUSY || primary == SQLITE_LOCKED) &&
        std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    break;
  }
  const int finish_rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_DONE) return StatusFromSqliteCode(rc, nullptr, what);
  if (finish_rc != SQLITE_OK) return StatusFromSqliteCode(finish_rc, to, what);
  return Status::Ok();
}

Status CreatePrivateFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return StatusFromErrno(errno, "create " + path.string());
  ::close(fd);
  return Status::Ok();
}

Status SyncFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return StatusFromErrno(errno, "open " + path.string());
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return StatusFromErrno(err, "sync " + path.string());
  return Status::Ok();
}

// Writes a self-contained copy of `from` to `destination` (temporary name, 0600, quick_check,
// fsync, rename). Returns the copy's schema version.
Result<int> WriteCopy(sqlite3* from, const std::filesystem::path& destination,
                      std::chrono::steady_clock::time_point deadline) {
  std::filesystem::path tmp = destination;
  tmp += ".tmp";
  std::error_code ec;
  std::filesystem::remove(tmp, ec);  // left by an interrupted earlier run
  TSUNAGU_RETURN_IF_ERROR(CreatePrivateFile(tmp));
  auto result = [&]() -> Result<int> {
    TSUNAGU_ASSIGN_OR_RETURN(DbPtr to, OpenDb(tmp, SQLITE_OPEN_READWRITE, "open"));
    TSUNAGU_RETURN_IF_ERROR(CopyPages(to.get(), from, deadline, "backup"));
    // The copied header may say WAL; a backup is one file.
    TSUNAGU_RETURN_IF_ERROR(ExecSql(to.get(), "PRAGMA journal_mode=DELETE", "backup"));
    const Result<std::string> check = QuickCheck(to.get());
    if (!check.ok()) return check.status();
    if (*check != "ok") return DataLossError("the copy fails its integrity check: " + *check);
    TSUNAGU_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(to.get()));
    to.reset();
    TSUNAGU_RETURN_IF_ERROR(SyncFile(tmp));
    std::filesystem::rename(tmp, destination, ec);
    if (ec) return StatusFromErrno(ec.value(), "rename to " + destination.string());
    TSUNAGU_RETURN_IF_ERROR(SyncDirectory(destination.parent_path().empty()
                                              ? std::filesystem::path(".")
                                              : destination.parent_path()));
    return version;
  }();
  if (!result.ok()) std::filesystem::remove(tmp, ec);
  return result;
}

}  // namespace

Result<BackupInfo> BackupDatabase(const std::filesystem::path& database,
                                  const std::filesystem::path& destination,
                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(database, ec)) {
    return NotFoundError("no database at " + database.string());
  }
  if (std::filesystem::exists(destination, ec)) {
    return AlreadyExistsError(destination.string() + " already exists; choose a new file name");
  }
  TSUNAGU_ASSIGN_OR_RETURN(DbPtr from, OpenDb(database, SQLITE_OPEN_READONLY, "open"));
  sqlite3_busy_timeout(from.get(), static_cast<int>(timeout.count()));
  TSUNAGU_ASSIGN_OR_RETURN(int version, WriteCopy(from.get(), destination, deadline));
  BackupInfo info;
  info.schema_version = version;
  info.bytes = std::filesystem::file_size(destination, ec);
  return info;
}

Result<int> RestoreDatabase(const std::filesystem::path& backup,
                            const std::filesystem::path& database, const Schema& schema) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(backup, ec)) {
    return NotFoundError("no backup at " + backup.string());
  }
  TSUNAGU_ASSIGN_OR_RETURN(DbPtr from, OpenDb(backup, SQLITE_OPEN_READONLY, "open backup"));
  {
    auto check = QuickCheck(from.get());
    if (!check.ok()) {
      return DataLossError(backup.string() +
                           " is not a readable backup: " + check.status().message());
    }
    if (*check != "ok") {
      return DataLossError(backup.string() + " fails its integrity check: " + *check);
    }
  }
  if (!schema.marker_table.empty()) {
    sqlite3_stmt* stmt = nullptr;
    const int rc =
        sqlite3_prepare_v2(from.get(), "SELECT 1 FROM sqlite_schema WHERE type='table' AND name=?1",
                           -1, &stmt, nullptr);
    if (rc != SQLITE_OK) return StatusFromSqliteCode(rc, from.get(), "read backup");
    sqlite3_bind_text(stmt, 1, schema.marker_table.c_str(), -1, SQLITE_TRANSIENT);
    const bool has = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_finalize(stmt);
    if (!has) {
      return InvalidArgumentError(backup.string() + " is not a backup of the " + schema.store);
    }
  }
  // After the marker: another store's backup is refused as such, whatever its version.
  TSUNAGU_ASSIGN_OR_RETURN(int version, ReadSchemaVersion(from.get()));
  if (version > schema.latest()) return NewerSchemaError(schema, version);
  TSUNAGU_ASSIGN_OR_RETURN(
      DbPtr to, OpenDb(database, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "open database"));
  sqlite3_busy_timeout(to.get(), 1000);
  // Exclusive locking mode keeps the lock after COMMIT; in WAL mode it cannot be had while any
  // other connection (the running service) has the database open.
  TSUNAGU_RETURN_IF_ERROR(ExecSql(to.get(), "PRAGMA locking_mode=EXCLUSIVE", "restore"));
  {
    const Status lock = ExecSql(to.get(), "BEGIN EXCLUSIVE; COMMIT", "restore");
    if (!lock.ok()) {
      (void)ExecSql(to.get(), "ROLLBACK", "restore");
      if (lock.code() == ErrorCode::kUnavailable) {
        return FailedPreconditionError(database.string() +
                                       " is in use: stop the service first, then restore; "
                                       "nothing was changed");
      }
      return lock;
    }
  }
  // Keep what is being replaced, so a restore of the wrong file can itself be undone.
  if (std::filesystem::file_size(database, ec) > 0) {
    std::filesystem::path keep = database;
    keep += ".before-restore";
    std::filesystem::remove(keep, ec);
    TSUNAGU_RETURN_IF_ERROR(WriteCopy(to.get(), keep, deadline).status());
  }
  TSUNAGU_RETURN_IF_ERROR(CopyPages(to.get(), from.get(), deadline, "restore"));
  (void)ExecSql(to.get(), "PRAGMA wal_checkpoint(TRUNCATE)", "restore");
  return version;
}

Result<std::string> QuickCheckDatabase(const std::filesystem::path& database) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(database, ec)) {
    return NotFoundError("no database at " + database.string());
  }
  TSUNAGU_ASSIGN_OR_RETURN(DbPtr db, OpenDb(database, SQLITE_OPEN_READONLY, "open"));
  sqlite3_busy_timeout(db.get(), 5000);
  return QuickCheck(db.get());
}

}  // namespace tsunagu::common
