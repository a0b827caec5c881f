#include "tsunagu/chat/patient_threads.h"

#include <sqlite3.h>

#include <mutex>

#include "sqlite_handles.h"
#include "tsunagu/chat/card.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::chat {
namespace {

using internal::DbDeleter;
using internal::Stmt;

common::Status StatusFromSqlite(sqlite3* db, int rc, std::string_view what) {
  return internal::StatusFromSqlite("patient room store", db, rc, what);
}

class SqlitePatientThreadStore final : public PatientThreadStore {
 public:
  SqlitePatientThreadStore(sqlite3* db, const common::Clock* clock) : db_(db), clock_(clock) {}

  common::Result<std::optional<std::string>> Find(const std::string& key,
                                                  const std::string& thread) override {
    std::lock_guard<std::mutex> lock(mu_);
    return FindLocked(key, thread);
  }

  common::Result<std::string> Put(const std::string& key, const std::string& thread,
                                  const std::string& destination) override {
    std::lock_guard<std::mutex> lock(mu_);
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_.get(),
                                "INSERT OR IGNORE INTO chat_patient_rooms"
                                "(patient_key, thread, destination, created_unix) VALUES(?,?,?,?)",
                                -1, &raw, nullptr);
    Stmt stmt(raw);
    if (rc != SQLITE_OK) return StatusFromSqlite(db_.get(), rc, "prepare insert");
    sqlite3_bind_text(raw, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(raw, 2, thread.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(raw, 3, destination.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(
        raw, 4,
        std::chrono::duration_cast<std::chrono::seconds>(clock_->SystemNow().time_since_epoch())
            .count());
    rc = sqlite3_step(raw);
    if (rc != SQLITE_DONE) return StatusFromSqlite(db_.get(), rc, "insert");
    auto found = FindLocked(key, thread);
    if (!found.ok()) return found.status();
    if (!found->has_value()) return common::InternalError("patient room store: insert lost");
    return **found;
  }

  common::Status Rekey(const std::string& from, const std::string& to,
                       const std::string& thread) override {
    std::lock_guard<std::mutex> lock(mu_);
    // One statement: the row moves to the new key unless the new key has a room already (two
    // gateways' worth of races), in which case the old row is left for `chat rooms forget`.
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_.get(),
                                "UPDATE OR IGNORE chat_patient_rooms SET patient_key = ? WHERE "
                                "patient_key = ? AND thread = ?",
                                -1, &raw, nullptr);
    Stmt stmt(raw);
    if (rc != SQLITE_OK) return StatusFromSqlite(db_.get(), rc, "prepare rekey");
    sqlite3_bind_text(raw, 1, to.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(raw, 2, from.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(raw, 3, thread.c_str(), -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(raw);
    if (rc != SQLITE_DONE) return StatusFromSqlite(db_.get(), rc, "rekey");
    return common::Status();
  }

  common::Result<std::vector<Mapping>> List() override {
    std::lock_guard<std::mutex> lock(mu_);
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(
        db_.get(),
        "SELECT patient_key, thread, destination FROM chat_patient_rooms ORDER BY thread, "
        "patient_key",
        -1, &raw, nullptr);
    Stmt stmt(raw);
    if (rc != SQLITE_OK) return StatusFromSqlite(db_.get(), rc, "prepare list");
    std::vector<Mapping> out;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
      out.push_back({reinterpret_cast<const char*>(sqlite3_column_text(raw, 0)),
                     reinterpret_cast<const char*>(sqlite3_column_text(raw, 1)),
                     reinterpret_cast<const char*>(sqlite3_column_text(raw, 2))});
    }
    if (rc != SQLITE_DONE) return StatusFromSqlite(db_.get(), rc, "list");
    return out;
  }

  common::Result<int> Forget(const std::string& thread, const std::string& prefix) override {
    if (prefix.size() < 8 || prefix.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return common::InvalidArgumentError(
          "give at least the first 8 hex characters of the key (see chat rooms)");
    }
    std::lock_guard<std::mutex> lock(mu_);
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(db_.get(),
                                "SELECT count(*) FROM chat_patient_rooms WHERE thread = ? AND "
                                "substr(patient_key, 1, ?) = ?",
                                -1, &raw, nullptr);
    Stmt count(raw);
    if (rc != SQLITE_OK) return StatusFromSqlite(db_.get(), rc, "prepare count");
    sqlite3_bind_text(raw, 1, thread.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(raw, 2, static_cast<int>(prefix.size()));
    sqlite3_bind_text(raw, 3, prefix.c_str(), -1, SQLITE_TRANSIENT);
    if ((rc = sqlite3_step(raw)) != SQLITE_ROW) return StatusFromSqlite(db_.get(), rc, "count");
    const int n = sqlite3_column_int(raw, 0);
    if (n != 1) return n;
    raw = nullptr;
    rc = sqlite3_prepare_v2(db_.get(),
                            "DELETE FROM chat_patient_rooms WHERE thread = ? AND "
                            "substr(patient_key, 1, ?) = ?",
                            -1, &raw, nullptr);
    Stmt del(raw);
    if (rc != SQLITE_OK) return StatusFromSqlite(db_.get(), rc, "prepare delete");
    sqlite3_bind_text(raw, 1, thread.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(raw, 2, static_cast<int>(prefix.size()));
    sqlite3_bind_text(raw, 3, prefix.c_str(), -1, SQLITE_TRANSIENT);
    if ((rc = sqlite3_step(raw)) != SQLITE_DONE) return StatusFromSqlite(db_.get(), rc, "delete");
    return 1;
  }

 private:
  common::Result<std::optional<std::string>> FindLocked(const std::string& key,
                                                        const std::string& thread) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v2(
        db_.get(), "SELECT destination FROM chat_patient_rooms WHERE patient_key=? AND thread=?",
        -1, &raw, nullptr);
    Stmt stmt(raw);
    if (rc != SQLITE_OK) return StatusFromSqlite(db_.get(), rc, "prepare select");
    sqlite3_bind_text(raw, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(raw, 2, thread.c_str(), -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(raw);
    if (rc == SQLITE_ROW) {
      return std::optional<std::string>(reinterpret_cast<const char*>(sqlite3_column_text(raw, 0)));
    }
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    return StatusFromSqlite(db_.get(), rc, "select");
  }

  std::mutex mu_;
  std::unique_ptr<sqlite3, DbDeleter> db_;  // GUARDED_BY(mu_)
  const common::Clock* clock_;
};

}  // namespace

std::string PatientKey(std::string_view site_secret, std::string_view patient_id,
                       std::string_view issuer) {
  std::string data(issuer);
  data += '\x1f';
  data.append(patient_id);
  return common::HexEncode(common::HmacSha256(site_secret, data));
}

std::string PatientRoomName(std::string_view label, std::string_view suffix) {
  std::string s = StripControl(suffix);
  // Keep at most the last 4 code points.
  std::size_t count = 0, cut = s.size();
  for (std::size_t i = s.size(); i > 0; --i) {
    if ((static_cast<unsigned char>(s[i - 1]) & 0xC0) != 0x80) {
      if (++count > 4) break;
      cut = i - 1;
    }
  }
  s = s.substr(cut);
  std::string name = StripControl(label);
  if (!name.empty()) name += ' ';
  return name + "\xE2\x80\xA6" + s;  // "…1234"
}

const common::Schema& PatientThreadStoreSchema() {
  // Append steps; never edit a released one (see tsunagu/common/sqlite_schema.h).
  static const common::Schema kRoomSchema{
      .store = "chat room store",
      .marker_table = "chat_patient_rooms",
      .steps = {{1,
                 "baseline",
                 "CREATE TABLE IF NOT EXISTS chat_patient_rooms("
                 " patient_key TEXT NOT NULL,"
                 " thread TEXT NOT NULL,"
                 " destination TEXT NOT NULL,"
                 " created_unix INTEGER NOT NULL,"
                 " PRIMARY KEY(patient_key, thread))",
                 {}}},
  };
  return kRoomSchema;
}

common::Result<std::unique_ptr<PatientThreadStore>> PatientThreadStore::Open(
    const std::filesystem::path& path, const common::Clock* clock) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::unique_ptr<sqlite3, DbDeleter> db(raw);
  if (rc != SQLITE_OK) return StatusFromSqlite(raw, rc, "open " + path.string());
  sqlite3_busy_timeout(raw, 5000);
  TSUNAGU_RETURN_IF_ERROR(common::MigrateSchema(raw, PatientThreadStoreSchema()).status());
  return std::unique_ptr<PatientThreadStore>(
      std::make_unique<SqlitePatientThreadStore>(db.release(), clock));
}

ChatResult<std::string> ResolvePatientDestination(PatientThreadStore& store,
                                                  ChatConnector& connector,
                                                  const std::string& thread,
                                                  const PatientRoute& route,
                                                  const PatientRoomPolicy& policy) {
  auto found = store.Find(route.patient_key, thread);
  if (!found.ok()) return found.status();
  if (found->has_value()) return **found;
  // After a site-secret rotation: the patient's room may be stored under a retired secret's key.
  // Move it to the current key, so that the mapping outlives the retired secret.
  for (const std::string& previous : route.previous_patient_keys) {
    if (previous.empty() || previous == route.patient_key) continue;
    auto old = store.Find(previous, thread);
    if (!old.ok()) return old.status();
    if (!old->has_value()) continue;
    if (auto st = store.Rekey(previous, route.patient_key, thread); !st.ok()) return st;
    return **old;
  }
  if (!connector.capabilities().can_create_rooms) {
    if (policy.fallback_destination.empty()) {
      return common::Status(common::ErrorCode::kFailedPrecondition,
                            "per-patient thread: this platform cannot create rooms and the "
                            "thread has no destination",
                            false);
    }
    return policy.fallback_destination;
  }
  // A crash between CreateRoom and Put leaves an empty room behind and creates another on the
  // retry (platforms have no idempotency key for room creation); documented in docs/chat.md.
  auto room = connector.CreateRoom(
      {.name = PatientRoomName(policy.label, route.patient_id_suffix), .invite = policy.invite});
  if (!room.ok()) return room;
  auto stored = store.Put(route.patient_key, thread, *room);
  if (!stored.ok()) return stored.status();
  return *stored;
}

}  // namespace tsunagu::chat
