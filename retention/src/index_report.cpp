#include "tsunagu/retention/index_report.h"

#include <sqlite3.h>

#include "sqlite_db.h"

namespace tsunagu::retention {
namespace {

std::int64_t ToMs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMs(std::int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

}  // namespace

common::Result<IndexReport> ReadIndexReport(const std::filesystem::path& data_directory,
                                            TimePoint now, std::size_t max_receipts) {
  const std::filesystem::path path = data_directory / kIndexFileName;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return common::NotFoundError("no study index at " + path.string());
  }
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, DbCloser> db(raw);
  if (rc != SQLITE_OK) return internal::StatusFromSqlite(rc, raw, "open " + path.string());
  sqlite3_busy_timeout(raw, 5000);
  auto prepare = [&](const char* sql) -> common::Result<internal::Stmt> {
    sqlite3_stmt* s = nullptr;
    const int prc = sqlite3_prepare_v2(raw, sql, -1, &s, nullptr);
    if (prc != SQLITE_OK) return internal::StatusFromSqlite(prc, raw, "read index");
    return internal::Stmt(raw, s);
  };
  IndexReport report;
  {
    // One read transaction: a consistent picture while the relay writes.
    TSUNAGU_ASSIGN_OR_RETURN(internal::Stmt begin, prepare("BEGIN"));
    TSUNAGU_RETURN_IF_ERROR(begin.Run());
  }
  {
    TSUNAGU_ASSIGN_OR_RETURN(
        internal::Stmt s,
        prepare("SELECT s.uid, s.state, IFNULL(s.thread, ''), s.created_at, s.expires_at, "
                "(SELECT COUNT(*) FROM instances i WHERE i.study = s.uid), "
                "(SELECT IFNULL(SUM(file_bytes), 0) FROM instances i WHERE i.study = s.uid) + "
                "(SELECT IFNULL(SUM(file_bytes), 0) FROM uploads u WHERE u.study = s.uid), "
                "(SELECT COUNT(*) FROM links l WHERE l.study = s.uid AND l.revoked = 0 AND "
                "l.expires_at > ?1), "
                "(SELECT MAX(time) FROM access_log a WHERE a.study = s.uid) "
                "FROM studies s ORDER BY s.state <> 'committed', s.expires_at, s.created_at"));
    s.Bind(1, ToMs(now));
    for (;;) {
      TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      StudySummary st;
      st.study_uid = s.Text(0);
      st.state = s.Text(1);
      st.thread = s.Text(2);
      st.created_at = FromMs(s.Int(3));
      if (!s.IsNull(4)) st.expires_at = FromMs(s.Int(4));
      st.instances = static_cast<std::uint64_t>(s.Int(5));
      st.stored_bytes = static_cast<std::uint64_t>(s.Int(6));
      st.links = static_cast<int>(s.Int(7));
      if (!s.IsNull(8)) st.last_access = FromMs(s.Int(8));
      report.used_bytes += st.stored_bytes;
      report.studies.push_back(std::move(st));
    }
  }
  {
    // Uploads of studies the index no longer lists do not exist (purge deletes both), but count
    // what the quota counts, the same way the store does.
    TSUNAGU_ASSIGN_OR_RETURN(internal::Stmt s,
                             prepare("SELECT (SELECT IFNULL(SUM(file_bytes),0) FROM instances) + "
                                     "(SELECT IFNULL(SUM(file_bytes),0) FROM uploads)"));
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (row) report.used_bytes = static_cast<std::uint64_t>(s.Int(0));
  }
  {
    TSUNAGU_ASSIGN_OR_RETURN(internal::Stmt s,
                             prepare("SELECT study, deleted_at, instance_count, reason FROM "
                                     "receipts ORDER BY deleted_at DESC LIMIT ?1"));
    s.Bind(1, static_cast<std::int64_t>(max_receipts));
    for (;;) {
      TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      report.receipts.push_back(DeletionReceipt{s.Text(0), FromMs(s.Int(1)),
                                                static_cast<std::uint64_t>(s.Int(2)), s.Text(3)});
    }
  }
  {
    TSUNAGU_ASSIGN_OR_RETURN(internal::Stmt end, prepare("COMMIT"));
    TSUNAGU_RETURN_IF_ERROR(end.Run());
  }
  return report;
}

}  // namespace tsunagu::retention
