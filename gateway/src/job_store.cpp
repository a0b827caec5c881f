#include "tsunagu/gateway/job_store.h"

#include <sqlite3.h>

#include <mutex>

#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::gateway {
namespace {

using common::Result;
using common::Status;

// The one place SQLite errors become Status.
Status StatusFromSqlite(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return common::UnavailableError("job database busy: " + msg);
    case SQLITE_FULL:
      return common::DiskFullError("job database: " + msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return common::DataLossError("job database: " + msg);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return common::PermissionDeniedError("job database: " + msg);
    default:
      return common::InternalError("job database: " + msg);
  }
}

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS jobs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  stage TEXT NOT NULL,
  study_uid TEXT NOT NULL DEFAULT '',
  study_key TEXT NOT NULL,
  thread TEXT NOT NULL,
  note TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT NOT NULL DEFAULT '',
  lease_until INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '',
  failed_stage TEXT NOT NULL DEFAULT '',
  expected_count INTEGER NOT NULL DEFAULT -1,
  move_rounds INTEGER NOT NULL DEFAULT 0,
  move_completed INTEGER NOT NULL DEFAULT 0,
  move_remaining INTEGER NOT NULL DEFAULT 0,
  deid_study_uid TEXT NOT NULL DEFAULT '',
  viewer_url TEXT NOT NULL DEFAULT '',
  expires_at TEXT NOT NULL DEFAULT '',
  patient_id_suffix TEXT NOT NULL DEFAULT '',
  modality TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_instance_at INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs(stage, next_attempt_at);
CREATE INDEX IF NOT EXISTS jobs_study ON jobs(study_key, stage);
CREATE TABLE IF NOT EXISTS instances(
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  sop_key TEXT NOT NULL,
  sop_uid TEXT NOT NULL DEFAULT '',
  series_uid TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  spool_path TEXT NOT NULL DEFAULT '',
  deid_sop_uid TEXT NOT NULL DEFAULT '',
  deid_path TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL DEFAULT '',
  size INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(job_id, sop_key));
CREATE TABLE IF NOT EXISTS job_card(
  job_id INTEGER PRIMARY KEY REFERENCES jobs(id),
  patient_key TEXT NOT NULL DEFAULT '',
  body_part TEXT NOT NULL DEFAULT '',
  study_description TEXT NOT NULL DEFAULT '',
  study_date TEXT NOT NULL DEFAULT '',
  study_time TEXT NOT NULL DEFAULT '');
)sql";

constexpr char kJobColumns[] =
    "id, kind, stage, study_uid, study_key, thread, note, attempts, lease_owner, lease_until, "
    "next_attempt_at, last_error, failed_stage, expected_count, move_rounds, move_completed, "
    "move_remaining, deid_study_uid, viewer_url, expires_at, patient_id_suffix, modality, "
    "created_at, updated_at, last_instance_at, access_code";

constexpr char kInstanceColumns[] =
    "job_id, sop_key, sop_uid, series_uid, state, spool_path, deid_sop_uid, deid_path, sha256, "
    "size";

std::int64_t ToMs(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Status prepared() const {
    return rc_ == SQLITE_OK ? Status() : StatusFromSqlite(db_, rc_, "prepare");
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<std::int64_t>(v)); }
  // SQLITE_ROW -> true, SQLITE_DONE -> false, else error.
  Result<bool> Step() {
    if (rc_ != SQLITE_OK) return StatusFromSqlite(db_, rc_, "prepare");
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return StatusFromSqlite(db_, rc, "step");
  }
  Status Run() {
    auto r = Step();
    return r.ok() ? Status() : r.status();
  }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  sqlite3_stmt* raw() const { return stmt_; }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

JobRecord ReadJob(const Stmt& s) {
  JobRecord j;
  j.id = JobId(s.Int(0));
  j.kind = s.Text(1) == "push" ? JobKind::kPush : JobKind::kSend;
  j.stage = s.Text(2);
  j.study_uid = s.Text(3);
  j.study_key = s.Text(4);
  j.thread = s.Text(5);
  j.note = s.Text(6);
  j.attempts = static_cast<int>(s.Int(7));
  j.lease_owner = s.Text(8);
  j.lease_until_ms = s.Int(9);
  j.next_attempt_at_ms = s.Int(10);
  j.last_error = s.Text(11);
  j.failed_stage = s.Text(12);
  j.expected_count = static_cast<int>(s.Int(13));
  j.move_rounds = static_cast<int>(s.Int(14));
  j.move_completed = static_cast<int>(s.Int(15));
  j.move_remaining = static_cast<int>(s.Int(16));
  j.deid_study_uid = s.Text(17);
  j.viewer_url = s.Text(18);
  j.expires_at = s.Text(19);
  j.patient_id_suffix = s.Text(20);
  j.modality = s.Text(21);
  j.created_at_ms = s.Int(22);
  j.updated_at_ms = s.Int(23);
  j.last_instance_at_ms = s.Int(24);
  j.access_code = s.Text(25);
  return j;
}

InstanceRecord ReadInstance(const Stmt& s) {
  InstanceRecord r;
  r.job_id = JobId(s.Int(0));
  r.sop_key = s.Text(1);
  r.sop_uid = s.Text(2);
  r.series_uid = s.Text(3);
  r.state = s.Text(4);
  r.spool_path = s.Text(5);
  r.deid_sop_uid = s.Text(6);
  r.deid_path = s.Text(7);
  r.sha256_hex = s.Text(8);
  r.size = s.Int(9);
  return r;
}

bool IsTerminal(const std::string& stage) {
  return stage == stage::kCleaned || stage == stage::kFailed;
}

// Inside a transaction: the job's card facts, replacing any stored before.
Status WriteCardFacts(sqlite3* db, JobId id, const CardFacts& f) {
  Stmt s(db,
         "INSERT OR REPLACE INTO job_card(job_id, patient_key, body_part, study_description, "
         "study_date, study_time) VALUES(?, ?, ?, ?, ?, ?)");
  return s.Bind(1, id.value())
      .Bind(2, f.patient_key)
      .Bind(3, f.body_part)
      .Bind(4, f.study_description)
      .Bind(5, f.study_date)
      .Bind(6, f.study_time)
      .Run();
}

}  // namespace

std::string_view JobKindName(JobKind kind) { return kind == JobKind::kPush ? "push" : "send"; }

struct JobStore::Impl {
  sqlite3* db = nullptr;
  common::Clock* clock = nullptr;
  std::mutex mu;  // one connection, one user at a time

  ~Impl() {
    if (db) sqlite3_close(db);
  }
  std::int64_t Now() const { return ToMs(clock->SystemNow()); }

  Status Exec(const char* sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    sqlite3_free(err);
    return rc == SQLITE_OK ? Status() : StatusFromSqlite(db, rc, "exec");
  }

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT (rolled back on error).
  template <typename F>
  auto Tx(F&& body) -> decltype(body()) {
    std::lock_guard<std::mutex> lock(mu);
    Status begin = Exec("BEGIN IMMEDIATE");
    if (!begin.ok()) return begin;
    auto result = body();
    if (!result.ok()) {
      (void)Exec("ROLLBACK");
      return result;
    }
    Status commit = Exec("COMMIT");
    if (!commit.ok()) {
      (void)Exec("ROLLBACK");
      return commit;
    }
    return result;
  }

  Result<JobRecord> GetJobLocked(JobId id) {
    const std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?";
    Stmt s(db, sql.c_str());
    s.Bind(1, id.value());
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) return common::NotFoundError("no job " + std::to_string(id.value()));
    return ReadJob(s);
  }

  Status Touch(JobId id) {
    Stmt s(db, "UPDATE jobs SET updated_at = ? WHERE id = ?");
    return s.Bind(1, Now()).Bind(2, id.value()).Run();
  }
};

const common::Schema& JobStoreSchema() {
  // Append steps; never edit a released one (see tsunagu/common/sqlite_schema.h).
  static const common::Schema kJobStoreSchema{
      .store = "job store",
      .marker_table = "jobs",
      .steps = {{1, "baseline", kSchema, {}},
                // Every C-STORE asks whether its spool file is referenced, and cleaning asks
                // whether another job still needs each file: without an index each was a scan of
                // every instance row the store has ever held (rows outlive their jobs).
                {2,
                 "instances.spool_path index",
                 "CREATE INDEX IF NOT EXISTS instances_spool ON instances(spool_path);",
                 {}},
                // Site-secret rotation: the secret a job's UIDs were mapped under (its id).
                {3,
                 "jobs.secret_generation",
                 "ALTER TABLE jobs ADD COLUMN secret_generation TEXT NOT NULL DEFAULT '';",
                 {}},
                // `cancel JOB` on a job a worker holds: the worker stops and cancels it.
                {4,
                 "jobs.cancel_requested",
                 "ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;",
                 {}},
                // A thread with access_code_required: the code the job's link was committed
                // with, kept so that a repeated commit uses the same code and the sender sees it.
                {5,
                 "jobs.access_code",
                 "ALTER TABLE jobs ADD COLUMN access_code TEXT NOT NULL DEFAULT '';",
                 {}}},
  };
  return kJobStoreSchema;
}

JobStore::JobStore(std::unique_ptr<Impl> impl, std::unique_ptr<Impl> fast)
    : impl_(std::move(impl)), fast_(std::move(fast)) {}
JobStore::~JobStore() = default;

Result<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path, common::Clock* clock) {
  auto impl = std::make_unique<Impl>();
  impl->clock = clock;
  const int rc =
      sqlite3_open_v2(path.c_str(), &impl->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) return StatusFromSqlite(impl->db, rc, "open " + path);
  sqlite3_busy_timeout(impl->db, 10000);
  if (path != ":memory:") {
    TSUNAGU_RETURN_IF_ERROR(impl->Exec("PRAGMA journal_mode=WAL"));
  }
  TSUNAGU_RETURN_IF_ERROR(impl->Exec("PRAGMA synchronous=FULL"));
  TSUNAGU_RETURN_IF_ERROR(impl->Exec("PRAGMA foreign_keys=ON"));
  {
    std::lock_guard<std::mutex> lock(impl->mu);
    TSUNAGU_RETURN_IF_ERROR(common::MigrateSchema(impl->db, JobStoreSchema()).status());
  }
  std::unique_ptr<Impl> fast;
  if (path != ":memory:") {
    fast = std::make_unique<Impl>();
    fast->clock = clock;
    const int frc = sqlite3_open_v2(path.c_str(), &fast->db,
                                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
    if (frc != SQLITE_OK) return StatusFromSqlite(fast->db, frc, "open " + path);
    sqlite3_busy_timeout(fast->db, 10000);
    TSUNAGU_RETURN_IF_ERROR(fast->Exec("PRAGMA synchronous=NORMAL"));
    TSUNAGU_RETURN_IF_ERROR(fast->Exec("PRAGMA foreign_keys=ON"));
  }
  return std::unique_ptr<JobStore>(new JobStore(std::move(impl), std::move(fast)));
}

Result<JobId> JobStore::CreateSend(const std::string& study_uid, const std::string& study_key,
                                   const std::string& thread, const std::string& note) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Result<JobId> {
    Stmt find(m.db,
              "SELECT id FROM jobs WHERE kind = 'send' AND study_key = ? AND thread = ? AND "
              "stage NOT IN ('cleaned', 'failed', 'posted') ORDER BY id LIMIT 1");
    find.Bind(1, study_key).Bind(2, thread);
    TSUNAGU_ASSIGN_OR_RETURN(bool row, find.Step());
    if (row) return JobId(find.Int(0));
    Stmt ins(m.db,
             "INSERT INTO jobs(kind, stage, study_uid, study_key, thread, note, created_at, "
             "updated_at) VALUES('send', 'retrieving', ?, ?, ?, ?, ?, ?)");
    const std::int64_t now = m.Now();
    ins.Bind(1, study_uid)
        .Bind(2, study_key)
        .Bind(3, thread)
        .Bind(4, note)
        .Bind(5, now)
        .Bind(6, now);
    TSUNAGU_RETURN_IF_ERROR(ins.Run());
    return JobId(sqlite3_last_insert_rowid(m.db));
  });
}

Result<Attachment> JobStore::AttachArrived(const ArrivedInstance& in,
                                           const std::optional<std::string>& push_thread,
                                           bool durable) {
  Impl& m = durable || !fast_ ? *impl_ : *fast_;
  return m.Tx([&]() -> Result<Attachment> {
    const std::int64_t now = m.Now();
    Attachment a;
    // 1. A send retrieving this study takes it.
    Stmt send(m.db, "SELECT id FROM jobs WHERE study_key = ? AND stage = 'retrieving' ORDER BY id");
    send.Bind(1, in.study_key);
    std::vector<std::int64_t> targets;
    for (;;) {
      TSUNAGU_ASSIGN_OR_RETURN(bool row, send.Step());
      if (!row) break;
      targets.push_back(send.Int(0));
    }
    if (targets.empty()) {
      // 2. A job that already has this instance (a late or repeated C-STORE) keeps it.
      Stmt have(m.db,
                "SELECT i.job_id FROM instances i JOIN jobs j ON j.id = i.job_id WHERE "
                "j.study_key = ? AND i.sop_key = ? AND i.state != 'expected' ORDER BY j.id DESC "
                "LIMIT 1");
      have.Bind(1, in.study_key).Bind(2, in.sop_key);
      TSUNAGU_ASSIGN_OR_RETURN(bool had, have.Step());
      if (had) {
        a.job_id = JobId(have.Int(0));
        a.duplicate = true;
        Stmt ref(m.db, "SELECT COUNT(*) FROM instances WHERE spool_path = ?");
        ref.Bind(1, in.spool_path);
        TSUNAGU_ASSIGN_OR_RETURN(bool counted, ref.Step());
        a.file_referenced = counted && ref.Int(0) > 0;
        return a;
      }
      if (!push_thread) {
        return common::NotFoundError("no routing rule matches this instance");
      }
      // 3. The collecting push job of this study for the routed thread, or a new one.
      Stmt push(m.db,
                "SELECT id FROM jobs WHERE study_key = ? AND thread = ? AND kind = 'push' AND "
                "stage = 'collecting' ORDER BY id LIMIT 1");
      push.Bind(1, in.study_key).Bind(2, *push_thread);
      TSUNAGU_ASSIGN_OR_RETURN(bool row, push.Step());
      if (row) {
        targets.push_back(push.Int(0));
      } else {
        Stmt ins(m.db,
                 "INSERT INTO jobs(kind, stage, study_uid, study_key, thread, created_at, "
                 "updated_at, modality) VALUES('push', 'collecting', ?, ?, ?, ?, ?, ?)");
        ins.Bind(1, in.study_uid)
            .Bind(2, in.study_key)
            .Bind(3, *push_thread)
            .Bind(4, now)
            .Bind(5, now)
            .Bind(6, in.modality);
        TSUNAGU_RETURN_IF_ERROR(ins.Run());
        targets.push_back(sqlite3_last_insert_rowid(m.db));
        a.created_job = true;
      }
    }
    // Several sends of one study (to different threads) each get the instance; they share the
    // spool file, which is deleted only when no unfinished job refers to it.
    a.job_id = JobId(targets.front());
    bool any_new = false;
    for (std::int64_t job : targets) {
      Stmt up(m.db,
              "INSERT INTO instances(job_id, sop_key, sop_uid, series_uid, state, spool_path) "
              "VALUES(?, ?, ?, ?, 'received', ?) ON CONFLICT(job_id, sop_key) DO UPDATE SET "
              "state = 'received', spool_path = excluded.spool_path, series_uid = "
              "excluded.series_uid WHERE instances.state = 'expected'");
      up.Bind(1, job)
          .Bind(2, in.sop_key)
          .Bind(3, in.sop_uid)
          .Bind(4, in.series_uid)
          .Bind(5, in.spool_path);
      TSUNAGU_RETURN_IF_ERROR(up.Run());
      any_new = any_new || sqlite3_changes(m.db) > 0;
      Stmt t(m.db,
             "UPDATE jobs SET last_instance_at = ?, updated_at = ?, modality = CASE WHEN "
             "modality = '' THEN ? ELSE modality END WHERE id = ?");
      t.Bind(1, now).Bind(2, now).Bind(3, in.modality).Bind(4, job);
      TSUNAGU_RETURN_IF_ERROR(t.Run());
    }
    a.duplicate = !any_new;
    Stmt ref(m.db, "SELECT COUNT(*) FROM instances WHERE spool_path = ?");
    ref.Bind(1, in.spool_path);
    TSUNAGU_ASSIGN_OR_RETURN(bool counted, ref.Step());
    a.file_referenced = counted && ref.Int(0) > 0;
    return a;
  });
}

Result<bool> JobStore::IsRetrieving(const std::string& study_key) {
  // On the second connection when there is one: a read that must not wait behind the pipeline's
  // transactions on the first (it is on the path of every C-STORE response).
  Impl& m = fast_ ? *fast_ : *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  Stmt s(m.db, "SELECT 1 FROM jobs WHERE study_key = ? AND stage = 'retrieving' LIMIT 1");
  s.Bind(1, study_key);
  return s.Step();
}

Result<JobRecord> JobStore::GetJob(JobId id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->GetJobLocked(id);
}

Result<std::vector<JobRecord>> JobStore::ListJobs(int limit) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const std::string sql =
      std::string("SELECT ") + kJobColumns + " FROM jobs ORDER BY id DESC LIMIT ?";
  Stmt s(impl_->db, sql.c_str());
  s.Bind(1, limit);
  std::vector<JobRecord> out;
  for (;;) {
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadJob(s));
  }
  return out;
}

Result<std::vector<InstanceRecord>> JobStore::ListInstances(JobId id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const std::string sql = std::string("SELECT ") + kInstanceColumns +
                          " FROM instances WHERE job_id = ? ORDER BY sop_key";
  Stmt s(impl_->db, sql.c_str());
  s.Bind(1, id.value());
  std::vector<InstanceRecord> out;
  for (;;) {
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadInstance(s));
  }
  return out;
}

Result<std::vector<InstanceRecord>> JobStore::ListInstancesInStates(JobId id, const std::string& a,
                                                                    const std::string& b) {
  // A read: on the second connection when there is one, so that it does not queue behind the
  // first connection's transactions.
  Impl& m = fast_ ? *fast_ : *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  const std::string sql = std::string("SELECT ") + kInstanceColumns +
                          " FROM instances WHERE job_id = ? AND state IN (?, ?) ORDER BY sop_key";
  Stmt s(m.db, sql.c_str());
  s.Bind(1, id.value()).Bind(2, a).Bind(3, b);
  std::vector<InstanceRecord> out;
  for (;;) {
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadInstance(s));
  }
  return out;
}

Result<JobProgress> JobStore::Progress(JobId id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db, "SELECT state, COUNT(*) FROM instances WHERE job_id = ? GROUP BY state");
  s.Bind(1, id.value());
  JobProgress p;
  for (;;) {
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    const std::string state = s.Text(0);
    const int n = static_cast<int>(s.Int(1));
    p.total += n;
    if (state == instance_state::kExpected) {
      p.expected += n;
      continue;
    }
    p.received += n;
    if (state == instance_state::kDeidentified || state == instance_state::kUploaded) {
      p.deidentified += n;
    }
    if (state == instance_state::kUploaded) p.uploaded += n;
  }
  return p;
}

Result<std::vector<std::pair<std::string, int>>> JobStore::CountByStage() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db, "SELECT stage, COUNT(*) FROM jobs GROUP BY stage ORDER BY stage");
  std::vector<std::pair<std::string, int>> out;
  for (;;) {
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.emplace_back(s.Text(0), static_cast<int>(s.Int(1)));
  }
  return out;
}

Status JobStore::SetStage(JobId id, const std::string& new_stage) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    Stmt s(m.db, "UPDATE jobs SET stage = ?, updated_at = ? WHERE id = ?");
    return s.Bind(1, new_stage).Bind(2, m.Now()).Bind(3, id.value()).Run();
  });
}

Status JobStore::SetExpected(JobId id, const std::vector<InstanceRecord>& expected) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    for (const InstanceRecord& r : expected) {
      Stmt s(m.db,
             "INSERT INTO instances(job_id, sop_key, sop_uid, series_uid, state) "
             "VALUES(?, ?, ?, ?, 'expected') ON CONFLICT(job_id, sop_key) DO UPDATE SET "
             "series_uid = excluded.series_uid");
      s.Bind(1, id.value()).Bind(2, r.sop_key).Bind(3, r.sop_uid).Bind(4, r.series_uid);
      TSUNAGU_RETURN_IF_ERROR(s.Run());
    }
    Stmt c(m.db,
           "UPDATE jobs SET expected_count = (SELECT COUNT(*) FROM instances WHERE job_id = ?1), "
           "updated_at = ?2 WHERE id = ?1");
    return c.Bind(1, id.value()).Bind(2, m.Now()).Run();
  });
}

Status JobStore::SetMoveCounters(JobId id, int rounds, int completed, int remaining) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    Stmt s(m.db,
           "UPDATE jobs SET move_rounds = ?, move_completed = ?, move_remaining = ?, updated_at "
           "= ? WHERE id = ?");
    return s.Bind(1, rounds)
        .Bind(2, completed)
        .Bind(3, remaining)
        .Bind(4, m.Now())
        .Bind(5, id.value())
        .Run();
  });
}

Status JobStore::SetDeidentified(JobId id, const std::string& sop_key,
                                 const std::string& deid_sop_uid, const std::string& deid_path,
                                 const std::string& sha256_hex, std::int64_t size) {
  return SetDeidentifiedMany(id, {{sop_key, deid_sop_uid, deid_path, sha256_hex, size}});
}

Status JobStore::SetDeidentifiedMany(JobId id, const std::vector<DeidentifiedUpdate>& updates,
                                     bool durable) {
  Impl& m = durable || !fast_ ? *impl_ : *fast_;
  return m.Tx([&]() -> Status {
    for (const DeidentifiedUpdate& u : updates) {
      Stmt s(m.db,
             "UPDATE instances SET state = 'deidentified', deid_sop_uid = ?, deid_path = ?, "
             "sha256 = ?, size = ? WHERE job_id = ? AND sop_key = ? AND state = 'received'");
      s.Bind(1, u.deid_sop_uid)
          .Bind(2, u.deid_path)
          .Bind(3, u.sha256_hex)
          .Bind(4, u.size)
          .Bind(5, id.value())
          .Bind(6, u.sop_key);
      TSUNAGU_RETURN_IF_ERROR(s.Run());
    }
    return m.Touch(id);
  });
}

Status JobStore::SetUploadedMany(JobId id, const std::vector<std::string>& sop_keys, bool durable) {
  Impl& m = durable || !fast_ ? *impl_ : *fast_;
  return m.Tx([&]() -> Status {
    for (const std::string& key : sop_keys) {
      Stmt s(m.db,
             "UPDATE instances SET state = 'uploaded' WHERE job_id = ? AND sop_key = ? AND "
             "state = 'deidentified'");
      TSUNAGU_RETURN_IF_ERROR(s.Bind(1, id.value()).Bind(2, key).Run());
    }
    return m.Touch(id);
  });
}

Status JobStore::SetStudyInfo(JobId id, const std::string& deid_study_uid,
                              const std::string& patient_id_suffix, const std::string& modality,
                              const CardFacts* facts) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    Stmt s(m.db,
           "UPDATE jobs SET deid_study_uid = ?, patient_id_suffix = ?, modality = CASE WHEN ? = "
           "'' THEN modality ELSE ? END, updated_at = ? WHERE id = ?");
    TSUNAGU_RETURN_IF_ERROR(s.Bind(1, deid_study_uid)
                                .Bind(2, patient_id_suffix)
                                .Bind(3, modality)
                                .Bind(4, modality)
                                .Bind(5, m.Now())
                                .Bind(6, id.value())
                                .Run());
    return facts == nullptr ? Status() : WriteCardFacts(m.db, id, *facts);
  });
}

Status JobStore::SetUploaded(JobId id, const std::string& sop_key) {
  return SetUploadedMany(id, {sop_key});
}

Status JobStore::SetCommitted(JobId id, const std::string& viewer_url,
                              const std::string& expires_at) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    Stmt s(m.db,
           "UPDATE jobs SET viewer_url = ?, expires_at = ?, stage = 'committed', updated_at = ? "
           "WHERE id = ?");
    return s.Bind(1, viewer_url).Bind(2, expires_at).Bind(3, m.Now()).Bind(4, id.value()).Run();
  });
}

Status JobStore::RestartUploads(JobId id) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    Stmt i(m.db,
           "UPDATE instances SET state = 'deidentified' WHERE job_id = ? AND state = 'uploaded'");
    TSUNAGU_RETURN_IF_ERROR(i.Bind(1, id.value()).Run());
    Stmt j(m.db, "UPDATE jobs SET stage = 'deidentified', updated_at = ? WHERE id = ?");
    return j.Bind(1, m.Now()).Bind(2, id.value()).Run();
  });
}

Status JobStore::RefetchInstances(JobId id, const std::vector<std::string>& sop_keys) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    for (const std::string& key : sop_keys) {
      Stmt s(m.db,
             "UPDATE instances SET state = 'expected', spool_path = '' WHERE job_id = ? AND "
             "sop_key = ? AND state = 'received'");
      TSUNAGU_RETURN_IF_ERROR(s.Bind(1, id.value()).Bind(2, key).Run());
    }
    Stmt j(m.db, "UPDATE jobs SET stage = 'retrieving', updated_at = ? WHERE id = ?");
    return j.Bind(1, m.Now()).Bind(2, id.value()).Run();
  });
}

Status JobStore::ClearSpoolPaths(JobId id, const std::vector<std::string>& sop_keys) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    for (const std::string& key : sop_keys) {
      Stmt s(m.db, "UPDATE instances SET spool_path = '' WHERE job_id = ? AND sop_key = ?");
      TSUNAGU_RETURN_IF_ERROR(s.Bind(1, id.value()).Bind(2, key).Run());
    }
    return Status();
  });
}

Status JobStore::ClearSpoolPath(JobId id, const std::string& sop_key) {
  return ClearSpoolPaths(id, {sop_key});
}

Result<bool> JobStore::OtherJobNeedsSpoolFile(JobId id, const std::string& spool_path) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db,
         "SELECT 1 FROM instances i JOIN jobs j ON j.id = i.job_id WHERE i.spool_path = ? AND "
         "i.job_id != ? AND j.stage IN ('collecting', 'retrieving', 'received') LIMIT 1");
  s.Bind(1, spool_path).Bind(2, id.value());
  return s.Step();
}

Result<std::vector<JobId>> JobStore::JobsNeedingSpoolFile(const std::string& spool_path) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db,
         "SELECT DISTINCT i.job_id FROM instances i JOIN jobs j ON j.id = i.job_id WHERE "
         "i.spool_path = ? AND j.stage IN ('collecting', 'retrieving', 'received')");
  s.Bind(1, spool_path);
  std::vector<JobId> out;
  for (;;) {
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(JobId(s.Int(0)));
  }
  return out;
}

Status JobStore::SetCardFacts(JobId id, const CardFacts& f) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status { return WriteCardFacts(m.db, id, f); });
}

Result<CardFacts> JobStore::GetCardFacts(JobId id) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Result<CardFacts> {
    Stmt s(m.db,
           "SELECT patient_key, body_part, study_description, study_date, study_time FROM "
           "job_card WHERE job_id = ?");
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Bind(1, id.value()).Step());
    CardFacts f;
    if (!row) return f;
    f.patient_key = s.Text(0);
    f.body_part = s.Text(1);
    f.study_description = s.Text(2);
    f.study_date = s.Text(3);
    f.study_time = s.Text(4);
    return f;
  });
}

Result<std::string> JobStore::GetSecretGeneration(JobId id) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  Stmt s(m.db, "SELECT secret_generation FROM jobs WHERE id = ?");
  TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Bind(1, id.value()).Step());
  if (!row) return common::NotFoundError("no job " + std::to_string(id.value()));
  return s.Text(0);
}

Status JobStore::SetJobText(JobId id, const char* sql, const std::string& value) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    Stmt s(m.db, sql);
    TSUNAGU_RETURN_IF_ERROR(s.Bind(1, value).Bind(2, id.value()).Run());
    if (sqlite3_changes(m.db) == 0) {
      return common::NotFoundError("no job " + std::to_string(id.value()));
    }
    return Status();
  });
}

Status JobStore::SetSecretGeneration(JobId id, const std::string& generation) {
  return SetJobText(id, "UPDATE jobs SET secret_generation = ? WHERE id = ?", generation);
}

Status JobStore::SetAccessCode(JobId id, const std::string& code) {
  return SetJobText(id, "UPDATE jobs SET access_code = ? WHERE id = ?", code);
}

Result<int> JobStore::BackfillSecretGeneration(const std::string& generation) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Result<int> {
    Stmt s(m.db, "UPDATE jobs SET secret_generation = ? WHERE secret_generation = ''");
    TSUNAGU_RETURN_IF_ERROR(s.Bind(1, generation).Run());
    return sqlite3_changes(m.db);
  });
}

Result<std::optional<std::int64_t>> LastUseOfSecret(const std::filesystem::path& db_path,
                                                    const std::string& generation) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> owner(db, sqlite3_close);
  if (rc != SQLITE_OK) return StatusFromSqlite(db, rc, "open " + db_path.string());
  sqlite3_busy_timeout(db, 5000);
  TSUNAGU_ASSIGN_OR_RETURN(bool has, common::HasColumn(db, "main", "jobs", "secret_generation"));
  if (!has) return std::optional<std::int64_t>();
  Stmt s(db, "SELECT max(updated_at) FROM jobs WHERE secret_generation = ?");
  TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Bind(1, generation).Step());
  if (!row || sqlite3_column_type(s.raw(), 0) == SQLITE_NULL) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(s.Int(0));
}

Result<std::optional<JobStore::StudyOrigin>> JobStore::FirstJobOfStudy(
    const std::vector<std::string>& study_keys) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  std::optional<StudyOrigin> best;
  // One indexed lookup per key (jobs_study); a handful of retained secrets at most.
  for (const std::string& key : study_keys) {
    Stmt s(m.db, "SELECT id, secret_generation FROM jobs WHERE study_key = ? ORDER BY id LIMIT 1");
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Bind(1, key).Step());
    if (!row) continue;
    if (!best || s.Int(0) < best->job.value()) best = StudyOrigin{JobId(s.Int(0)), key, s.Text(1)};
  }
  return best;
}

Result<std::vector<JobStore::UnfinishedJob>> JobStore::ListUnfinishedWithUids() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  Stmt s(m.db,
         "SELECT id, study_uid, study_key, secret_generation FROM jobs WHERE study_uid != '' AND "
         "stage NOT IN ('cleaned', 'failed') ORDER BY id");
  std::vector<UnfinishedJob> out;
  for (;;) {
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back({JobId(s.Int(0)), s.Text(1), s.Text(2), s.Text(3)});
  }
  return out;
}

Status JobStore::RekeyJob(JobId id, const std::string& study_key,
                          const std::vector<std::pair<std::string, std::string>>& sop_keys) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    Stmt j(m.db, "UPDATE jobs SET study_key = ?, updated_at = ? WHERE id = ?");
    TSUNAGU_RETURN_IF_ERROR(j.Bind(1, study_key).Bind(2, m.Now()).Bind(3, id.value()).Run());
    for (const auto& [from, to] : sop_keys) {
      Stmt i(m.db, "UPDATE instances SET sop_key = ? WHERE job_id = ? AND sop_key = ?");
      TSUNAGU_RETURN_IF_ERROR(i.Bind(1, to).Bind(2, id.value()).Bind(3, from).Run());
    }
    return Status();
  });
}

Status JobStore::ForgetIdentifiers(JobId id) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    Stmt k(m.db, "UPDATE job_card SET patient_key = '' WHERE job_id = ?");
    TSUNAGU_RETURN_IF_ERROR(k.Bind(1, id.value()).Run());
    Stmt i(m.db,
           "UPDATE instances SET sop_uid = '', series_uid = '', spool_path = '', deid_path = '' "
           "WHERE job_id = ?");
    TSUNAGU_RETURN_IF_ERROR(i.Bind(1, id.value()).Run());
    Stmt j(m.db, "UPDATE jobs SET study_uid = '', updated_at = ? WHERE id = ?");
    return j.Bind(1, m.Now()).Bind(2, id.value()).Run();
  });
}

Result<int> JobStore::ReleaseLeasesOf(const std::string& owner) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Result<int> {
    Stmt s(m.db, "UPDATE jobs SET lease_owner = '', lease_until = 0 WHERE lease_owner = ?");
    TSUNAGU_RETURN_IF_ERROR(s.Bind(1, owner).Run());
    return sqlite3_changes(m.db);
  });
}

Result<std::vector<std::pair<std::string, int>>> JobStore::CountFailuresByCode() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db,
         "SELECT CASE WHEN instr(last_error, ':') > 0 THEN substr(last_error, 1, "
         "instr(last_error, ':') - 1) ELSE 'unknown' END AS code, COUNT(*) FROM jobs WHERE "
         "stage = 'failed' GROUP BY code ORDER BY code");
  std::vector<std::pair<std::string, int>> out;
  for (;;) {
    TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.emplace_back(s.Text(0), static_cast<int>(s.Int(1)));
  }
  return out;
}

namespace {
constexpr std::string_view kCancelledPrefix = "cancelled:";
}  // namespace

Status JobStore::RetryFailed(JobId id) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    TSUNAGU_ASSIGN_OR_RETURN(JobRecord job, m.GetJobLocked(id));
    const std::string name = "job " + std::to_string(id.value());
    if (job.stage != stage::kFailed) {
      return common::FailedPreconditionError(name + " is " + job.stage +
                                             ", not failed; only a failed job can be retried");
    }
    if (job.failed_stage.empty() || IsTerminal(job.failed_stage)) {
      return common::FailedPreconditionError(name + " has no stage to resume from");
    }
    if (job.study_uid.empty() && job.failed_stage != stage::kCommitted &&
        job.failed_stage != stage::kPosted) {
      return common::FailedPreconditionError(
          name + "'s identifiers are already forgotten; send the study again");
    }
    Stmt s(m.db,
           "UPDATE jobs SET stage = failed_stage, failed_stage = '', last_error = '', "
           "attempts = 0, next_attempt_at = 0, lease_owner = '', lease_until = 0, "
           "updated_at = ? WHERE id = ?");
    return s.Bind(1, m.Now()).Bind(2, id.value()).Run();
  });
}

Status JobStore::RequestCancel(JobId id) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    TSUNAGU_ASSIGN_OR_RETURN(JobRecord job, m.GetJobLocked(id));
    const std::string name = "job " + std::to_string(id.value());
    if (job.stage == stage::kPosted || job.stage == stage::kCleaned) {
      return common::FailedPreconditionError(name + " is " + job.stage +
                                             (job.last_error.rfind(kCancelledPrefix, 0) == 0
                                                  ? " (cancelled before)"
                                                  : "; its link was posted already"));
    }
    Stmt s(m.db, "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?");
    return s.Bind(1, m.Now()).Bind(2, id.value()).Run();
  });
}

Result<bool> JobStore::IsCancelRequested(JobId id) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  Stmt s(m.db, "SELECT cancel_requested FROM jobs WHERE id = ?");
  TSUNAGU_ASSIGN_OR_RETURN(bool row, s.Bind(1, id.value()).Step());
  if (!row) return common::NotFoundError("no job " + std::to_string(id.value()));
  return s.Int(0) != 0;
}

Result<std::vector<InstanceRecord>> JobStore::Cancel(JobId id, system_clock::time_point now_tp,
                                                     bool by_lease_holder) {
  Impl& m = *impl_;
  const std::int64_t now = ToMs(now_tp);
  return m.Tx([&]() -> Result<std::vector<InstanceRecord>> {
    TSUNAGU_ASSIGN_OR_RETURN(JobRecord job, m.GetJobLocked(id));
    const std::string name = "job " + std::to_string(id.value());
    if (job.stage == stage::kPosted || job.stage == stage::kCleaned) {
      return common::FailedPreconditionError(name + " is " + job.stage +
                                             (job.last_error.rfind(kCancelledPrefix, 0) == 0
                                                  ? " (cancelled before)"
                                                  : "; its link was posted already"));
    }
    if (!by_lease_holder && !job.lease_owner.empty() && job.lease_until_ms > now) {
      return common::UnavailableError(name +
                                      " is being worked on right now; try again in a moment");
    }
    const std::string sql =
        std::string("SELECT ") + kInstanceColumns + " FROM instances WHERE job_id = ?";
    Stmt list(m.db, sql.c_str());
    list.Bind(1, id.value());
    std::vector<InstanceRecord> out;
    for (;;) {
      TSUNAGU_ASSIGN_OR_RETURN(bool row, list.Step());
      if (!row) break;
      out.push_back(ReadInstance(list));
    }
    Stmt s(m.db,
           "UPDATE jobs SET failed_stage = CASE WHEN stage = 'failed' THEN failed_stage ELSE "
           "stage END, stage = 'cleaned', last_error = ?, lease_owner = '', lease_until = 0, "
           "updated_at = ? WHERE id = ?");
    TSUNAGU_RETURN_IF_ERROR(s.Bind(1, std::string(kCancelledPrefix) + " cancelled by an operator" +
                                          (by_lease_holder ? " while it ran" : ""))
                                .Bind(2, m.Now())
                                .Bind(3, id.value())
                                .Run());
    return out;
  });
}

Result<std::optional<jobs::Lease>> JobStore::Claim(const std::string& owner,
                                                   system_clock::time_point now_tp,
                                                   jobs::milliseconds lease_for) {
  Impl& m = *impl_;
  const std::int64_t now = ToMs(now_tp);
  return m.Tx([&]() -> Result<std::optional<jobs::Lease>> {
    Stmt pick(m.db,
              "SELECT id, stage, attempts FROM jobs WHERE stage NOT IN ('cleaned', 'failed') AND "
              "next_attempt_at <= ?1 AND lease_until <= ?1 ORDER BY next_attempt_at, id LIMIT 1");
    pick.Bind(1, now);
    TSUNAGU_ASSIGN_OR_RETURN(bool row, pick.Step());
    if (!row) return std::optional<jobs::Lease>();
    jobs::Lease lease{JobId(pick.Int(0)), pick.Text(1), static_cast<int>(pick.Int(2)) + 1};
    Stmt up(m.db,
            "UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = ?, updated_at = ? "
            "WHERE id = ?");
    up.Bind(1, owner)
        .Bind(2, now + lease_for.count())
        .Bind(3, lease.attempt)
        .Bind(4, now)
        .Bind(5, lease.id.value());
    TSUNAGU_RETURN_IF_ERROR(up.Run());
    return std::optional<jobs::Lease>(lease);
  });
}

Status JobStore::Release(const jobs::Lease& lease, system_clock::time_point next_attempt_at,
                         bool reset_attempts, const Status& error) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    Stmt s(m.db,
           "UPDATE jobs SET lease_owner = '', lease_until = 0, next_attempt_at = ?, attempts = "
           "CASE WHEN ? THEN 0 ELSE attempts END, last_error = CASE WHEN ? = '' THEN "
           "last_error ELSE ? END, updated_at = ? WHERE id = ?");
    const std::string err = error.ok() ? "" : error.ToString();
    s.Bind(1, ToMs(next_attempt_at))
        .Bind(2, reset_attempts ? 1 : 0)
        .Bind(3, err)
        .Bind(4, err)
        .Bind(5, m.Now())
        .Bind(6, lease.id.value());
    TSUNAGU_RETURN_IF_ERROR(s.Run());
    if (reset_attempts) {
      // A job its worker cancelled keeps "cancelled: ..." (it is how status tells it apart).
      Stmt c(m.db,
             "UPDATE jobs SET last_error = '' WHERE id = ? AND stage != 'failed' AND "
             "last_error NOT LIKE 'cancelled:%'");
      return c.Bind(1, lease.id.value()).Run();
    }
    return Status();
  });
}

Status JobStore::Fail(const jobs::Lease& lease, const Status& why) {
  Impl& m = *impl_;
  return m.Tx([&]() -> Status {
    TSUNAGU_ASSIGN_OR_RETURN(JobRecord job, m.GetJobLocked(lease.id));
    if (IsTerminal(job.stage)) return Status();
    Stmt s(m.db,
           "UPDATE jobs SET stage = 'failed', failed_stage = stage, last_error = ?, "
           "lease_owner = '', lease_until = 0, updated_at = ? WHERE id = ?");
    return s.Bind(1, why.ToString()).Bind(2, m.Now()).Bind(3, lease.id.value()).Run();
  });
}

}  // namespace tsunagu::gateway
