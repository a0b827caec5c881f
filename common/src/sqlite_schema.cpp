#include "tsunagu/common/sqlite_schema.h"

#include <sqlite3.h>

#include <string>

namespace tsunagu::common {
namespace {

// Schema names come from code, never from input; still, refuse anything but a plain identifier
// since they are spliced into PRAGMA statements (which take no bound parameters).
bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

Status ValidateSteps(const Schema& schema) {
  if (!IsIdentifier(schema.database)) {
    return InternalError(schema.store + ": bad schema name \"" + schema.database + "\"");
  }
  for (std::size_t i = 0; i < schema.steps.size(); ++i) {
    if (schema.steps[i].version != static_cast<int>(i) + 1) {
      return InternalError(schema.store + ": schema step " + std::to_string(i + 1) +
                           " is numbered " + std::to_string(schema.steps[i].version));
    }
  }
  return Status::Ok();
}

}  // namespace

Status StatusFromSqliteCode(int rc, sqlite3* db, std::string_view what) {
  const std::string detail =
      std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::Ok();
    case SQLITE_FULL:
      return DiskFullError(detail);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(detail);
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_AUTH:
      return PermissionDeniedError(detail);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(detail);
    default:
      return InternalError(detail);
  }
}

Status ExecSql(sqlite3* db, std::string_view sql, std::string_view what) {
  const std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, text.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);
  return StatusFromSqliteCode(rc, db, what);
}

Result<int> ReadSchemaVersion(sqlite3* db, std::string_view database) {
  if (!IsIdentifier(database)) return InvalidArgumentError("bad schema name");
  const std::string sql = "PRAGMA " + std::string(database) + ".user_version";
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return StatusFromSqliteCode(rc, db, "read schema version");
  rc = sqlite3_step(stmt);
  const int version = rc == SQLITE_ROW ? sqlite3_column_int(stmt, 0) : 0;
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW) return StatusFromSqliteCode(rc, db, "read schema version");
  return version;
}

Status NewerSchemaError(const Schema& schema, int found) {
  return FailedPreconditionError(
      schema.store + " has schema version " + std::to_string(found) + " but this release knows " +
      "versions up to " + std::to_string(schema.latest()) +
      ": it was written by a newer Tsunagu. Install that release again (or newer), or restore a " +
      "backup taken before the upgrade; the database was not changed");
}

Result<int> MigrateSchema(sqlite3* db, const Schema& schema) {
  TSUNAGU_RETURN_IF_ERROR(ValidateSteps(schema));
  TSUNAGU_ASSIGN_OR_RETURN(const int before, ReadSchemaVersion(db, schema.database));
  if (before > schema.latest()) return NewerSchemaError(schema, before);
  // One pass per step; bounded by the number of steps (each pass either applies one or stops).
  for (std::size_t pass = 0; pass <= schema.steps.size(); ++pass) {
    TSUNAGU_RETURN_IF_ERROR(ExecSql(db, "BEGIN IMMEDIATE", schema.store + ": begin migration"));
    // Read again under the write lock: another process may have migrated meanwhile.
    auto current = ReadSchemaVersion(db, schema.database);
    if (!current.ok()) {
      (void)ExecSql(db, "ROLLBACK", "rollback");
      return current.status();
    }
    if (*current >= schema.latest()) {
      (void)ExecSql(db, "ROLLBACK", "rollback");
      if (*current > schema.latest()) return NewerSchemaError(schema, *current);
      return before;
    }
    const SchemaStep& step = schema.steps[static_cast<std::size_t>(*current)];
    const std::string what = schema.store + ": schema step " + std::to_string(step.version) + " (" +
                             std::string(step.summary) + ")";
    Status st = step.sql.empty() ? Status::Ok() : ExecSql(db, step.sql, what);
    if (st.ok() && step.apply) st = step.apply(db);
    if (st.ok()) {
      st = ExecSql(db,
                   "PRAGMA " + schema.database + ".user_version = " + std::to_string(step.version),
                   what);
    }
    if (!st.ok()) {
      (void)ExecSql(db, "ROLLBACK", "rollback");
      return Status(st.code(), what + " failed: " + st.message(), st.retryable());
    }
    TSUNAGU_RETURN_IF_ERROR(ExecSql(db, "COMMIT", what));
  }
  return InternalError(schema.store + ": migration did not converge");
}

Result<bool> HasColumn(sqlite3* db, std::string_view database, std::string_view table,
                       std::string_view column) {
  if (!IsIdentifier(database) || !IsIdentifier(table)) {
    return InvalidArgumentError("bad schema or table name");
  }
  const std::string sql =
      "SELECT 1 FROM pragma_table_info(?1, ?2) WHERE name = ?3";  // table-valued pragma
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  if (rc != SQLITE_OK) return StatusFromSqliteCode(rc, db, "table info");
  sqlite3_bind_text(stmt, 1, table.data(), static_cast<int>(table.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(stmt, 2, database.data(), static_cast<int>(database.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(stmt, 3, column.data(), static_cast<int>(column.size()), SQLITE_TRANSIENT);
  rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return StatusFromSqliteCode(rc, db, "table info");
}

}  // namespace tsunagu::common
