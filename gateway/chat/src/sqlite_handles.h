// The chat library's SQLite stores (per-patient rooms, posted cards) share these handles and the
// one conversion of SQLite errors into the project's error codes.
#ifndef TSUNAGU_GATEWAY_CHAT_SRC_SQLITE_HANDLES_H_
#define TSUNAGU_GATEWAY_CHAT_SRC_SQLITE_HANDLES_H_

#include <sqlite3.h>

#include <memory>
#include <string>
#include <string_view>

#include "tsunagu/common/status.h"

namespace tsunagu::chat::internal {

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// "<store>: <what>: <sqlite message>", with full disk, busy and corruption told apart.
inline common::Status StatusFromSqlite(std::string_view store, sqlite3* db, int rc,
                                       std::string_view what) {
  const std::string msg = std::string(store) + ": " + std::string(what) + ": " +
                          (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return common::DiskFullError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return common::UnavailableError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return common::DataLossError(msg);
    default:
      return common::InternalError(msg);
  }
}

}  // namespace tsunagu::chat::internal

#endif  // TSUNAGU_GATEWAY_CHAT_SRC_SQLITE_HANDLES_H_
