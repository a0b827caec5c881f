#include "gateway_contacts.h"

#include <sqlite3.h>

#include <memory>

#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::relay {
namespace {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

}  // namespace

const common::Schema& GatewayContactsSchema() {
  static const common::Schema kSchema{"gateway contacts",
                                      "main",
                                      "gateway_contacts",
                                      {{1, "baseline",
                                        "CREATE TABLE IF NOT EXISTS gateway_contacts ("
                                        " name TEXT PRIMARY KEY,"
                                        " last_contact_ms INTEGER NOT NULL);",
                                        nullptr}}};
  return kSchema;
}

namespace {

common::Result<Db> OpenDb(const std::filesystem::path& file, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(file.c_str(), &raw, flags, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    return common::StatusFromSqliteCode(rc, raw, "open " + file.filename().string());
  }
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

}  // namespace

common::Status SaveGatewayContacts(const std::filesystem::path& file,
                                   const GatewayContactMap& contacts) {
  TSUNAGU_ASSIGN_OR_RETURN(Db db, OpenDb(file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  TSUNAGU_RETURN_IF_ERROR(MigrateSchema(db.get(), GatewayContactsSchema()).status());
  TSUNAGU_RETURN_IF_ERROR(common::ExecSql(db.get(), "BEGIN IMMEDIATE;", "save gateway contacts"));
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.get(),
                              "INSERT INTO gateway_contacts (name, last_contact_ms) VALUES (?, ?)"
                              " ON CONFLICT (name) DO UPDATE SET last_contact_ms ="
                              " max(last_contact_ms, excluded.last_contact_ms);",
                              -1, &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return common::StatusFromSqliteCode(rc, db.get(), "save gateway contacts");
  for (const auto& [name, t] : contacts) {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
    sqlite3_reset(stmt.get());
    sqlite3_bind_text(stmt.get(), 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(stmt.get(), 2, ms);
    rc = sqlite3_step(stmt.get());
    if (rc != SQLITE_DONE) {
      const common::Status st = common::StatusFromSqliteCode(rc, db.get(), "save gateway contacts");
      (void)common::ExecSql(db.get(), "ROLLBACK;", "save gateway contacts");
      return st;
    }
  }
  stmt.reset();
  return common::ExecSql(db.get(), "COMMIT;", "save gateway contacts");
}

common::Result<GatewayContactMap> ReadGatewayContacts(const std::filesystem::path& file) {
  GatewayContactMap out;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return out;
  TSUNAGU_ASSIGN_OR_RETURN(Db db, OpenDb(file, SQLITE_OPEN_READONLY));
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.get(), "SELECT name, last_contact_ms FROM gateway_contacts;", -1,
                              &raw, nullptr);
  Stmt stmt(raw);
  if (rc != SQLITE_OK) return common::StatusFromSqliteCode(rc, db.get(), "read gateway contacts");
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
    out[name ? name : ""] = std::chrono::system_clock::time_point(
        std::chrono::milliseconds(sqlite3_column_int64(stmt.get(), 1)));
  }
  if (rc != SQLITE_DONE) {
    return common::StatusFromSqliteCode(rc, db.get(), "read gateway contacts");
  }
  return out;
}

}  // namespace tsunagu::relay
