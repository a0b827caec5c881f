#include "sqlite_db.h"

#include "tsunagu/common/status.h"

namespace tsunagu::retention::internal {

common::Status StatusFromSqlite(int rc, sqlite3* db, std::string_view what) {
  const std::string detail =
      std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return common::Status::Ok();
    case SQLITE_FULL:
      return common::DiskFullError(detail);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return common::UnavailableError(detail);
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
      return common::PermissionDeniedError(detail);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return common::DataLossError(detail);
    case SQLITE_CONSTRAINT:
      return common::AlreadyExistsError(detail);
    default:
      return common::InternalError(detail);
  }
}

common::Result<bool> Stmt::Step() {
  const int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return StatusFromSqlite(rc, db_, "sqlite step");
}

common::Status Stmt::Run() {
  for (;;) {
    auto r = Step();
    if (!r.ok()) return r.status();
    if (!*r) return common::Status::Ok();
  }
}

std::string Stmt::Text(int col) const {
  const auto* p = sqlite3_column_text(stmt_.get(), col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), col)));
}

std::string Stmt::Blob(int col) const {
  const void* p = sqlite3_column_blob(stmt_.get(), col);
  if (p == nullptr) return {};
  return std::string(static_cast<const char*>(p),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), col)));
}

common::Result<std::unique_ptr<Db>> Db::Open(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, DbCloser> owner(raw);
  if (rc != SQLITE_OK) return StatusFromSqlite(rc, raw, "cannot open " + path.string());
  sqlite3_busy_timeout(raw, 5000);
  return std::unique_ptr<Db>(new Db(owner.release()));
}

common::Status Db::Exec(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  return StatusFromSqlite(rc, db_.get(), "sqlite exec");
}

common::Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  const int rc =
      sqlite3_prepare_v2(db_.get(), sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) return StatusFromSqlite(rc, db_.get(), "sqlite prepare");
  return Stmt(db_.get(), s);
}

}  // namespace tsunagu::retention::internal
