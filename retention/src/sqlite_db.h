// Private: a thin owner of a sqlite3 connection and its statements. StatusFromSqlite is the one
// place where SQLite errors become Status values.
#ifndef TSUNAGU_RETENTION_SRC_SQLITE_DB_H_
#define TSUNAGU_RETENTION_SRC_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tsunagu/common/result.h"
#include "tsunagu/common/status.h"

namespace tsunagu::retention::internal {

common::Status StatusFromSqlite(int rc, sqlite3* db, std::string_view what);

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};

class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Stmt& Bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_.get(), i, v);
    return *this;
  }
  Stmt& Bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindBlob(int i, std::string_view v) {
    sqlite3_bind_blob(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(stmt_.get(), i);
    return *this;
  }
  // true: a row is available; false: done.
  common::Result<bool> Step();
  // Steps to completion, ignoring rows.
  common::Status Run();
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::string Text(int col) const;
  std::string Blob(int col) const;

 private:
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt_;
};

class Db {
 public:
  static common::Result<std::unique_ptr<Db>> Open(const std::filesystem::path& path);
  common::Status Exec(const char* sql);
  common::Result<Stmt> Prepare(std::string_view sql);
  sqlite3* raw() const { return db_.get(); }

 private:
  explicit Db(sqlite3* db) : db_(db) {}
  std::unique_ptr<sqlite3, DbCloser> db_;
};

}  // namespace tsunagu::retention::internal

#endif  // TSUNAGU_RETENTION_SRC_SQLITE_DB_H_
