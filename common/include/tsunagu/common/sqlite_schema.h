// Versioned schemas for the SQLite stores: ordered, numbered steps recorded in PRAGMA
// user_version, each applied in its own transaction, and a refusal to open a database written by a
// newer release. Shared by the gateway's job store, its chat room store and the relay's index.
//
// How to change a store's schema (the whole procedure):
//   1. Never edit a step that has been released. Append a step with the next number, e.g.
//        {3, "jobs.priority", "ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;"}
//   2. Add a test in the store's *_migration_test.cpp that builds the previous version's tables
//      with a row, opens the store, and reads the row back with the new column's default.
//   That is all: the store runs MigrateSchema() on open, so every install upgrades at its next
//   start, and an older binary refuses (with a message saying so) a database a newer one wrote.
//
// This header forward-declares sqlite3 and does not include <sqlite3.h>.
#ifndef TSUNAGU_COMMON_SQLITE_SCHEMA_H_
#define TSUNAGU_COMMON_SQLITE_SCHEMA_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "tsunagu/common/result.h"
#include "tsunagu/common/status.h"

struct sqlite3;

namespace tsunagu::common {

// One schema step. `version` is the user_version the database has once the step is applied.
// `sql` runs first (may be empty), then `apply` if set (for steps SQL alone cannot express, such
// as "only if the column is there"). Both run inside the step's transaction; neither may BEGIN or
// COMMIT, nor change journal_mode.
struct SchemaStep {
  int version = 0;
  std::string_view summary;  // for logs and errors: "baseline", "jobs.priority"
  std::string_view sql;
  std::function<Status(sqlite3*)> apply;
};

// The steps of one database (`database` is the schema name: "main" or an ATTACHed name).
// Versions must be 1, 2, 3, ... in order; version 1 is the baseline, written with CREATE ... IF
// NOT EXISTS so that databases made before versioning existed (user_version 0) take it too.
struct Schema {
  std::string store;  // for people: "job store", "relay index"
  std::string database = "main";
  // A table every version has, by which restore recognises a backup of this store (and refuses,
  // say, the relay's index offered as the gateway's job store).
  std::string marker_table;
  std::vector<SchemaStep> steps;

  int latest() const { return steps.empty() ? 0 : steps.back().version; }
};

// The database's PRAGMA user_version.
Result<int> ReadSchemaVersion(sqlite3* db, std::string_view database = "main");

// Brings `db` to schema.latest(), one step per BEGIN IMMEDIATE transaction (a crash leaves the
// database at the last completed step; the next open continues from there; two processes
// opening at once do not apply a step twice). Returns the version found before migrating.
// Errors: kFailedPrecondition when the database is newer than every step here (written by a
// newer release; the message says what to do), kInternal for a malformed step list, or the step's
// own error (the step is rolled back).
Result<int> MigrateSchema(sqlite3* db, const Schema& schema);

// The kFailedPrecondition MigrateSchema returns for a newer database; also used by restore.
Status NewerSchemaError(const Schema& schema, int found);

// Whether `database`.`table` has a column named `column`.
Result<bool> HasColumn(sqlite3* db, std::string_view database, std::string_view table,
                       std::string_view column);

// Runs `sql` (one or more statements) and converts a failure to Status.
Status ExecSql(sqlite3* db, std::string_view sql, std::string_view what);

// The one place this library turns an SQLite result code into Status.
Status StatusFromSqliteCode(int rc, sqlite3* db, std::string_view what);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_SQLITE_SCHEMA_H_
