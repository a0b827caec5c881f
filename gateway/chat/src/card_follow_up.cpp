#include "tsunagu/chat/card_follow_up.h"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>

#include "sqlite_handles.h"
#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::chat {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

using internal::DbDeleter;
using internal::Stmt;

common::Status StatusFromSqlite(sqlite3* db, int rc, std::string_view what) {
  return internal::StatusFromSqlite("posted card store", db, rc, what);
}

std::int64_t ToMs(system_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}
system_clock::time_point FromMs(std::int64_t ms) {
  return system_clock::time_point(milliseconds(ms));
}

std::string_view StateName(CardState s) {
  switch (s) {
    case CardState::kActive:
      return "active";
    case CardState::kExpired:
      return "expired";
    case CardState::kRevoked:
      return "revoked";
  }
  return "active";
}
CardState StateFrom(std::string_view s) {
  if (s == "expired") return CardState::kExpired;
  if (s == "revoked") return CardState::kRevoked;
  return CardState::kActive;
}

constexpr char kColumns[] =
    "job_id, thread, study_uid, destination, message_id, exactly_once, modality, body_part, "
    "study_description, study_date, study_time, series_count, image_count, patient_id_suffix, "
    "sender_note, expires_at_ms, access_code_required, viewer_url, state, opened_at_ms, done";

class SqlitePostedCardStore final : public PostedCardStore {
 public:
  explicit SqlitePostedCardStore(sqlite3* db) : db_(db) {}

  common::Status Record(const PostedCard& p) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto s = Prepare(std::string("INSERT INTO chat_posted_cards(") + kColumns +
                     ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(job_id) DO "
                     "UPDATE SET destination = excluded.destination, message_id = "
                     "excluded.message_id, exactly_once = excluded.exactly_once");
    if (!s.ok()) return s.status();
    sqlite3_stmt* st = s->get();
    const Card& c = p.card;
    sqlite3_bind_int64(st, 1, c.job_id);
    BindText(st, 2, p.thread);
    BindText(st, 3, p.study_uid);
    BindText(st, 4, p.posted.destination);
    BindText(st, 5, p.posted.message_id);
    sqlite3_bind_int(st, 6, p.posted.exactly_once ? 1 : 0);
    BindText(st, 7, c.modality);
    BindText(st, 8, c.body_part);
    BindText(st, 9, c.study_description);
    BindText(st, 10, c.study_date);
    BindText(st, 11, c.study_time);
    sqlite3_bind_int(st, 12, c.series_count);
    sqlite3_bind_int(st, 13, c.image_count);
    BindText(st, 14, c.patient_id_suffix);
    BindText(st, 15, c.sender_note);
    sqlite3_bind_int64(st, 16, ToMs(c.expires_at));
    sqlite3_bind_int(st, 17, c.access_code_required ? 1 : 0);
    BindText(st, 18, c.viewer_url);
    BindText(st, 19, std::string(StateName(c.state)));
    sqlite3_bind_int64(st, 20, c.opened_at ? ToMs(*c.opened_at) : 0);
    sqlite3_bind_int(st, 21, p.done ? 1 : 0);
    const int rc = sqlite3_step(st);
    return rc == SQLITE_DONE ? common::Status() : StatusFromSqlite(db_.get(), rc, "record");
  }

  common::Result<std::vector<PostedCard>> Pending(int limit) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto s = Prepare(std::string("SELECT ") + kColumns +
                     " FROM chat_posted_cards WHERE done = 0 ORDER BY job_id LIMIT ?");
    if (!s.ok()) return s.status();
    sqlite3_bind_int(s->get(), 1, limit);
    std::vector<PostedCard> out;
    for (;;) {
      const int rc = sqlite3_step(s->get());
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return StatusFromSqlite(db_.get(), rc, "select");
      out.push_back(Read(s->get()));
    }
    return out;
  }

  common::Result<std::optional<PostedCard>> Get(std::int64_t job_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto s =
        Prepare(std::string("SELECT ") + kColumns + " FROM chat_posted_cards WHERE job_id = ?");
    if (!s.ok()) return s.status();
    sqlite3_bind_int64(s->get(), 1, job_id);
    const int rc = sqlite3_step(s->get());
    if (rc == SQLITE_DONE) return std::optional<PostedCard>();
    if (rc != SQLITE_ROW) return StatusFromSqlite(db_.get(), rc, "select");
    return std::optional<PostedCard>(Read(s->get()));
  }

  common::Status Save(const PostedCard& p) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto s = Prepare(
        "UPDATE chat_posted_cards SET state = ?, opened_at_ms = ?, done = ? WHERE job_id = ?");
    if (!s.ok()) return s.status();
    BindText(s->get(), 1, std::string(StateName(p.card.state)));
    sqlite3_bind_int64(s->get(), 2, p.card.opened_at ? ToMs(*p.card.opened_at) : 0);
    sqlite3_bind_int(s->get(), 3, p.done ? 1 : 0);
    sqlite3_bind_int64(s->get(), 4, p.card.job_id);
    const int rc = sqlite3_step(s->get());
    return rc == SQLITE_DONE ? common::Status() : StatusFromSqlite(db_.get(), rc, "save");
  }

 private:
  static void BindText(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  static std::string Text(sqlite3_stmt* s, int col) {
    const auto* p = sqlite3_column_text(s, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s, col)))
             : std::string();
  }
  static PostedCard Read(sqlite3_stmt* s) {
    PostedCard p;
    Card& c = p.card;
    c.job_id = sqlite3_column_int64(s, 0);
    p.thread = Text(s, 1);
    p.study_uid = Text(s, 2);
    p.posted.destination = Text(s, 3);
    p.posted.message_id = Text(s, 4);
    p.posted.exactly_once = sqlite3_column_int(s, 5) != 0;
    c.modality = Text(s, 6);
    c.body_part = Text(s, 7);
    c.study_description = Text(s, 8);
    c.study_date = Text(s, 9);
    c.study_time = Text(s, 10);
    c.series_count = sqlite3_column_int(s, 11);
    c.image_count = sqlite3_column_int(s, 12);
    c.patient_id_suffix = Text(s, 13);
    c.sender_note = Text(s, 14);
    c.expires_at = FromMs(sqlite3_column_int64(s, 15));
    c.access_code_required = sqlite3_column_int(s, 16) != 0;
    c.viewer_url = Text(s, 17);
    c.state = StateFrom(Text(s, 18));
    if (const std::int64_t opened = sqlite3_column_int64(s, 19); opened != 0) {
      c.opened_at = FromMs(opened);
    }
    p.done = sqlite3_column_int(s, 20) != 0;
    return p;
  }
  common::Result<Stmt> Prepare(const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v2(db_.get(), sql.c_str(), -1, &raw, nullptr);
    Stmt s(raw);
    if (rc != SQLITE_OK) return StatusFromSqlite(db_.get(), rc, "prepare");
    return s;
  }

  std::mutex mu_;
  std::unique_ptr<sqlite3, DbDeleter> db_;  // GUARDED_BY(mu_)
};

}  // namespace

const common::Schema& PostedCardStoreSchema() {
  // Append steps; never edit a released one (see tsunagu/common/sqlite_schema.h). Version 1 is the
  // table as the first release created it (without a version), so those files take it as is.
  static const common::Schema kSchema{
      .store = "chat post store",
      .marker_table = "chat_posted_cards",
      .steps = {{1,
                 "baseline",
                 "CREATE TABLE IF NOT EXISTS chat_posted_cards("
                 " job_id INTEGER PRIMARY KEY, thread TEXT NOT NULL, study_uid TEXT NOT NULL,"
                 " destination TEXT NOT NULL, message_id TEXT NOT NULL,"
                 " exactly_once INTEGER NOT NULL, modality TEXT NOT NULL,"
                 " body_part TEXT NOT NULL, study_description TEXT NOT NULL,"
                 " study_date TEXT NOT NULL, study_time TEXT NOT NULL,"
                 " series_count INTEGER NOT NULL, image_count INTEGER NOT NULL,"
                 " patient_id_suffix TEXT NOT NULL, sender_note TEXT NOT NULL,"
                 " expires_at_ms INTEGER NOT NULL, access_code_required INTEGER NOT NULL,"
                 " viewer_url TEXT NOT NULL, state TEXT NOT NULL,"
                 " opened_at_ms INTEGER NOT NULL, done INTEGER NOT NULL)",
                 {}}},
  };
  return kSchema;
}

common::Result<std::unique_ptr<PostedCardStore>> PostedCardStore::Open(
    const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::unique_ptr<sqlite3, DbDeleter> db(raw);
  if (rc != SQLITE_OK) return StatusFromSqlite(raw, rc, "open " + path.string());
  sqlite3_busy_timeout(raw, 5000);
  TSUNAGU_RETURN_IF_ERROR(common::MigrateSchema(raw, PostedCardStoreSchema()).status());
  return std::unique_ptr<PostedCardStore>(std::make_unique<SqlitePostedCardStore>(db.release()));
}

bool CardFollowUp::DuePoll(std::int64_t job, std::chrono::steady_clock::time_point now) const {
  const auto it = polls_.find(job);
  return it == polls_.end() || now >= it->second.next;
}

void CardFollowUp::BackOff(std::int64_t job, std::chrono::steady_clock::time_point now) {
  Poll& poll = polls_[job];
  poll.interval = poll.interval.count() == 0 ? kFirstPollInterval
                                             : std::min(poll.interval * 2, kMaxPollInterval);
  poll.next = now + poll.interval;
}

common::Result<int> CardFollowUp::RunOnce(int limit) {
  TSUNAGU_ASSIGN_OR_RETURN(std::vector<PostedCard> pending, deps_.posts->Pending(limit));
  const auto now = deps_.clock->SystemNow();
  const auto steady_now = deps_.clock->SteadyNow();
  // Forget the waits of cards that are no longer pending (opened, expired, revoked).
  for (auto it = polls_.begin(); it != polls_.end();) {
    const bool still = std::any_of(pending.begin(), pending.end(),
                                   [&](const PostedCard& p) { return p.card.job_id == it->first; });
    it = still ? std::next(it) : polls_.erase(it);
  }
  int changed = 0;
  for (PostedCard& p : pending) {
    const ThreadInfo* info = nullptr;
    for (const auto& t : deps_.chat->threads()) {
      if (t.name == p.thread) info = &t;
    }
    if (info == nullptr) {  // the thread left the configuration: nothing can follow up
      p.done = true;
      TSUNAGU_RETURN_IF_ERROR(deps_.posts->Save(p));
      continue;
    }
    const std::string key = "tsunagu-job-" + std::to_string(p.card.job_id);
    if (p.card.state == CardState::kRevoked) {  // `tsunagu-gateway revoke JOB`
      if (info->capabilities.can_edit) {
        auto r = deps_.chat->Update(p.thread, p.card, p.posted, key + "-revoked");
        if (!r.ok() && r.status().retryable()) continue;  // next round
      }
      p.done = true;
      TSUNAGU_RETURN_IF_ERROR(deps_.posts->Save(p));
      Count("revoked");
      ++changed;
      continue;
    }
    if (now >= p.card.expires_at) {
      p.card.state = CardState::kExpired;
      if (info->capabilities.can_edit) {
        auto r = deps_.chat->Update(p.thread, p.card, p.posted, key + "-expired");
        if (!r.ok() && r.status().retryable()) continue;  // next round
      }
      p.done = true;
      TSUNAGU_RETURN_IF_ERROR(deps_.posts->Save(p));
      Count("expired");
      ++changed;
      continue;
    }
    // The relay is asked for the first opening (seen_receipts threads, until opened) and, where
    // the card can be edited, for a revocation made at the relay itself.
    const bool want_opened = info->policy.seen_receipts && !p.card.opened_at;
    const bool want_revoked = info->capabilities.can_edit;
    if (!want_opened && !want_revoked) {
      p.done = true;  // nothing can change this card any more
      TSUNAGU_RETURN_IF_ERROR(deps_.posts->Save(p));
      continue;
    }
    if (deps_.events == nullptr) continue;
    if (!DuePoll(p.card.job_id, steady_now)) continue;
    Count("relay_question");
    auto events = deps_.events->Get(p.study_uid);
    if (!events.ok()) {
      if (deps_.log) {
        deps_.log->debug("chat.followup_events_failed job={} code={}", p.card.job_id,
                         common::ErrorCodeName(events.status().code()));
      }
      BackOff(p.card.job_id, steady_now);
      continue;
    }
    if (events->revoked && want_revoked) {
      p.card.state = CardState::kRevoked;
      auto r = deps_.chat->Update(p.thread, p.card, p.posted, key + "-revoked");
      if (!r.ok() && r.status().retryable()) continue;  // next round
      p.done = true;
      TSUNAGU_RETURN_IF_ERROR(deps_.posts->Save(p));
      if (deps_.log) deps_.log->info("chat.followup_revoked_at_relay job={}", p.card.job_id);
      Count("revoked");
      ++changed;
      continue;
    }
    const std::optional<system_clock::time_point> opened = events->first_opened;
    if (!want_opened || !opened) {
      BackOff(p.card.job_id, steady_now);
      continue;
    }
    auto r = deps_.chat->NotifyOpened(p.thread, p.card, *opened, p.posted, key + "-opened");
    if (!r.ok() && r.status().retryable()) continue;
    p.card.opened_at = *opened;
    // Where the card cannot be edited, nothing remains to do after the receipt.
    if (!info->capabilities.can_edit) p.done = true;
    TSUNAGU_RETURN_IF_ERROR(deps_.posts->Save(p));
    if (deps_.log) deps_.log->info("chat.followup_opened job={}", p.card.job_id);
    Count("opened");
    ++changed;
  }
  return changed;
}

}  // namespace tsunagu::chat
