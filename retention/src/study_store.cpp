#include "tsunagu/retention/study_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <spdlog/logger.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "aead.h"
#include "sqlite_db.h"
#include "tsunagu/common/crypto.h"
#include "tsunagu/common/file_system.h"
#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::retention {
namespace {

using common::Result;
using common::Status;
using internal::Db;
using internal::Stmt;

constexpr int kPbkdf2Iterations = 10000;

std::int64_t ToMs(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMs(std::int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

std::string ShortHash(std::string_view s) {
  return common::HexEncode(common::Sha256(s)).substr(0, 32);
}

std::string RecordAad(std::string_view study, std::string_view sop, std::uint64_t index) {
  std::string aad = "tsunagu-instance-v1";
  aad.push_back('\0');
  aad.append(study);
  aad.push_back('\0');
  aad.append(sop);
  aad.push_back('\0');
  aad.append(std::to_string(index));
  return aad;
}

std::string MetadataAad(std::string_view study, std::string_view sop) {
  return "tsunagu-metadata-v1|" + std::string(study) + "|" + std::string(sop);
}

std::string DerivedAad(std::string_view study, std::string_view name) {
  return "tsunagu-derived-v1|" + std::string(study) + "|" + std::string(name);
}

std::string HashAccessCode(std::string_view code, std::string_view salt) {
  std::string out(32, '\0');
  PKCS5_PBKDF2_HMAC(code.data(), static_cast<int>(code.size()),
                    reinterpret_cast<const unsigned char*>(salt.data()),
                    static_cast<int>(salt.size()), kPbkdf2Iterations, EVP_sha256(), 32,
                    reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// Appends `data` to `path` after truncating it to `keep` bytes (dropping a record a crash left
// behind before the index recorded it), then fdatasyncs.
Status AppendToFile(const std::filesystem::path& path, std::uint64_t keep, std::string_view data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return common::StatusFromErrno(errno, "open upload file");
  Status st;
  if (::ftruncate(fd, static_cast<off_t>(keep)) != 0 ||
      ::lseek(fd, static_cast<off_t>(keep), SEEK_SET) < 0) {
    st = common::StatusFromErrno(errno, "truncate upload file");
  }
  std::size_t done = 0;
  while (st.ok() && done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      st = common::StatusFromErrno(errno, "write upload file");
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (st.ok() && ::fdatasync(fd) != 0) st = common::StatusFromErrno(errno, "sync upload file");
  ::close(fd);
  // A new file: make its directory entry durable before the index refers to it.
  if (st.ok() && keep == 0) st = common::SyncDirectory(path.parent_path());
  return st;
}

// Writes a new file without waiting for it to reach the disk, but starts its writeback now
// (sync_file_range, SYNC_FILE_RANGE_WRITE: asynchronous), so that the disk works while the rest
// of the study arrives and the commit's sync finds little left to do.
Status WriteNewFile(const std::filesystem::path& path, std::string_view data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return common::StatusFromErrno(errno, "create instance file");
  Status st;
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      st = common::StatusFromErrno(errno, "write instance file");
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  // A hint only: an error here (a file system without it) leaves the work to the commit's sync.
  if (st.ok()) (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  if (::close(fd) != 0 && st.ok()) st = common::StatusFromErrno(errno, "close instance file");
  return st;
}

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::StatusFromErrno(errno, "open study file");
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const Status st = common::StatusFromErrno(errno, "read study file");
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// Versions of the key store (keys.sqlite, attached as "keys"). Append steps; never edit a released
// one (see tsunagu/common/sqlite_schema.h).
const common::Schema& StudyKeysSchema() {
  static const common::Schema kKeys{
      .store = "relay key store",
      .database = "keys",
      .marker_table = "study_keys",
      .steps =
          {
              {1,
               "baseline",
               "CREATE TABLE IF NOT EXISTS keys.study_keys(uid TEXT PRIMARY KEY, key BLOB NOT "
               "NULL);",
               {}},
              // The first release kept each study's key in the index (studies.key); move them
              // here, in a transaction of this database alone, before the index drops the column.
              {2,
               "keys from the index",
               {},
               [](sqlite3* db) -> Status {
                 TSUNAGU_ASSIGN_OR_RETURN(bool legacy,
                                          common::HasColumn(db, "main", "studies", "key"));
                 if (!legacy) return Status::Ok();
                 return common::ExecSql(db,
                                        "INSERT OR IGNORE INTO keys.study_keys(uid, key) SELECT "
                                        "uid, key FROM main.studies WHERE key IS NOT NULL",
                                        "copy keys");
               }},
          },
  };
  return kKeys;
}

class SqliteStudyStore final : public StudyStore {
 public:
  SqliteStudyStore(StoreOptions options, StoreDeps deps, std::unique_ptr<Db> db)
      : options_(std::move(options)), deps_(std::move(deps)), db_(std::move(db)) {}

  Status Init() {
    TSUNAGU_RETURN_IF_ERROR(
        db_->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;"
                  "PRAGMA keys.journal_mode=WAL; PRAGMA keys.synchronous=FULL; PRAGMA "
                  "keys.secure_delete=ON;"));
    // The key store first: the index's step 2 expects keys.study_keys.
    TSUNAGU_RETURN_IF_ERROR(common::MigrateSchema(db_->raw(), StudyKeysSchema()).status());
    TSUNAGU_ASSIGN_OR_RETURN(const int before,
                             common::MigrateSchema(db_->raw(), StudyIndexSchema()));
    // Step 2 removed keys from the index: push the old pages out of the WAL as Purge does.
    if (before < 2) TSUNAGU_RETURN_IF_ERROR(db_->Exec("PRAGMA main.wal_checkpoint(TRUNCATE)"));
    return Status::Ok();
  }

  Result<UploadProgress> GetProgress(const std::string& study, const std::string& sop) override {
    std::lock_guard lock(mu_);
    return ProgressLocked(study, sop);
  }

  Result<UploadProgress> AppendChunk(const std::string& study, const std::string& sop,
                                     std::uint64_t offset, std::uint64_t total,
                                     const std::string& sha256_hex, std::string_view chunk,
                                     const InstanceValidator& validator) override {
    if (offset > total || chunk.size() > total - offset) {
      return common::InvalidArgumentError("chunk extends past the declared instance size");
    }
    if (total == 0) return common::InvalidArgumentError("empty instance");
    if (offset == 0 && chunk.size() == total) {
      // The whole instance in one request (the common case).
      TSUNAGU_ASSIGN_OR_RETURN(std::optional<UploadProgress> whole,
                               PutWhole(study, sop, sha256_hex, chunk, validator));
      if (whole) return *whole;
    }
    std::lock_guard lock(mu_);
    TSUNAGU_ASSIGN_OR_RETURN(Prepared prepared, PrepareLocked(study, sop, total, sha256_hex));
    if (prepared.answer) return *prepared.answer;
    StudyRow* row = &prepared.row;
    const std::optional<UploadRow>& upload = prepared.upload;
    const std::uint64_t received = upload ? upload->received : 0;
    if (offset > received) {
      return common::FailedPreconditionError("chunk starts at " + std::to_string(offset) +
                                             " but the relay holds " + std::to_string(received) +
                                             " bytes");
    }
    if (offset + chunk.size() <= received) {
      return UploadProgress{received, total, false};  // a repeated chunk: nothing to do
    }
    const std::string_view fresh = chunk.substr(received - offset);
    TSUNAGU_RETURN_IF_ERROR(CheckQuotaLocked(fresh.size() + internal::kRecordOverhead));
    const std::uint64_t records = upload ? upload->records : 0;
    const std::uint64_t file_bytes = upload ? upload->file_bytes : 0;
    TSUNAGU_ASSIGN_OR_RETURN(std::string record,
                             internal::SealRecord(row->key, RecordAad(study, sop, records), fresh));
    const auto part = PartPath(row->dir, sop);
    TSUNAGU_RETURN_IF_ERROR(AppendToFile(part, file_bytes, record));
    const std::uint64_t new_received = received + fresh.size();
    {
      TSUNAGU_ASSIGN_OR_RETURN(
          Stmt s, db_->Prepare("INSERT INTO uploads(study, sop, total, sha256, received, records, "
                               "file_bytes) VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(study, sop) "
                               "DO UPDATE SET received=?5, records=?6, file_bytes=?7"));
      s.Bind(1, study).Bind(2, sop).Bind(3, static_cast<std::int64_t>(total)).Bind(4, sha256_hex);
      s.Bind(5, static_cast<std::int64_t>(new_received))
          .Bind(6, static_cast<std::int64_t>(records + 1))
          .Bind(7, static_cast<std::int64_t>(file_bytes + record.size()));
      TSUNAGU_RETURN_IF_ERROR(s.Run());
    }
    if (new_received < total) return UploadProgress{new_received, total, false};
    Status finished = FinishUploadLocked(*row, study, sop, total, sha256_hex,
                                         file_bytes + record.size(), validator);
    if (!finished.ok()) {
      DiscardUploadLocked(*row, study, sop);
      deps_.logger->warn("upload.rejected study_key={} code={} reason=\"{}\"", ShortHash(study),
                         common::ErrorCodeName(finished.code()), finished.message());
      return finished;
    }
    return UploadProgress{total, total, true};
  }

  Result<CommitOutcome> Commit(const std::string& study,
                               const std::vector<CommitInstance>& instances,
                               const std::string& thread,
                               const std::optional<std::string>& access_code,
                               std::optional<std::chrono::milliseconds> retention) override {
    if (instances.empty()) return common::InvalidArgumentError("a commit needs instances");
    std::lock_guard lock(mu_);
    TSUNAGU_ASSIGN_OR_RETURN(std::optional<StudyRow> row, StudyLocked(study));
    const TimePoint now = deps_.clock->SystemNow();
    if (!row) {
      TSUNAGU_ASSIGN_OR_RETURN(auto receipt, ReceiptLocked(study));
      if (receipt) return common::NotFoundError("the study was deleted by retention");
      return common::FailedPreconditionError("the relay holds no instance of this study");
    }
    // Compare the list with what is held.
    std::set<std::string> listed;
    std::vector<std::uint64_t> file_bytes;  // of each listed instance's file, as indexed
    for (const auto& inst : instances) {
      if (!listed.insert(inst.sop_uid).second) {
        return common::InvalidArgumentError("an instance is listed twice");
      }
      TSUNAGU_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT sha256, size, file_bytes FROM "
                                                    "instances WHERE study=?1 AND sop=?2"));
      s.Bind(1, study).Bind(2, inst.sop_uid);
      TSUNAGU_ASSIGN_OR_RETURN(bool found, s.Step());
      if (!found) {
        return common::FailedPreconditionError("instance " + std::to_string(listed.size()) +
                                               " of the commit has not been uploaded completely");
      }
      if (s.Text(0) != inst.sha256_hex || static_cast<std::uint64_t>(s.Int(1)) != inst.size) {
        return common::FailedPreconditionError("instance " + std::to_string(listed.size()) +
                                               " differs from the uploaded one (hash or size)");
      }
      file_bytes.push_back(static_cast<std::uint64_t>(s.Int(2)));
    }
    if (row->state != "committed") {
      TSUNAGU_RETURN_IF_ERROR(MakeStudyDurableLocked(*row, study, instances, file_bytes));
    }
    CommitOutcome outcome;
    TSUNAGU_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
    Status st = [&]() -> Status {
      if (row->state == "committed") {
        if (FromMs(row->expires_at) <= now) {
          return common::NotFoundError("the study has expired");
        }
        TSUNAGU_ASSIGN_OR_RETURN(Stmt c, db_->Prepare("SELECT COUNT(*) FROM instances WHERE "
                                                      "study=?1"));
        c.Bind(1, study);
        TSUNAGU_ASSIGN_OR_RETURN(bool has, c.Step());
        if (!has || static_cast<std::size_t>(c.Int(0)) != instances.size()) {
          return common::AlreadyExistsError(
              "the study was committed before with a different list of instances");
        }
        outcome.already_committed = true;
        outcome.expires_at = FromMs(row->expires_at);
      } else {
        // Instances uploaded but not listed are dropped: the study is exactly the list.
        TSUNAGU_ASSIGN_OR_RETURN(Stmt q, db_->Prepare("SELECT sop FROM instances WHERE study=?1"));
        q.Bind(1, study);
        std::vector<std::string> extra;
        for (;;) {
          TSUNAGU_ASSIGN_OR_RETURN(bool more, q.Step());
          if (!more) break;
          if (!listed.count(q.Text(0))) extra.push_back(q.Text(0));
        }
        for (const auto& sop : extra) {
          TSUNAGU_ASSIGN_OR_RETURN(Stmt d,
                                   db_->Prepare("DELETE FROM instances WHERE study=?1 AND sop=?2"));
          d.Bind(1, study).Bind(2, sop);
          TSUNAGU_RETURN_IF_ERROR(d.Run());
          std::error_code ec;
          std::filesystem::remove(FinalPath(row->dir, sop), ec);
        }
        auto period = options_.retention;
        if (retention && *retention < period) period = *retention;
        outcome.expires_at = now + period;
        TSUNAGU_ASSIGN_OR_RETURN(Stmt u,
                                 db_->Prepare("UPDATE studies SET state='committed', "
                                              "committed_at=?2, expires_at=?3, thread=?4 WHERE "
                                              "uid=?1"));
        u.Bind(1, study).Bind(2, ToMs(now)).Bind(3, ToMs(outcome.expires_at)).Bind(4, thread);
        TSUNAGU_RETURN_IF_ERROR(u.Run());
      }
      TSUNAGU_ASSIGN_OR_RETURN(std::string raw, common::RandomBytes(32));
      outcome.link_token = common::Base64UrlEncode(raw);
      TSUNAGU_ASSIGN_OR_RETURN(Stmt l, db_->Prepare("INSERT INTO links(token_hash, study, "
                                                    "created_at, expires_at, code_salt, "
                                                    "code_hash) VALUES(?1,?2,?3,?4,?5,?6)"));
      l.Bind(1, common::HexEncode(common::Sha256(outcome.link_token)))
          .Bind(2, study)
          .Bind(3, ToMs(now))
          .Bind(4, ToMs(outcome.expires_at));
      if (access_code && !access_code->empty()) {
        TSUNAGU_ASSIGN_OR_RETURN(std::string salt, common::RandomBytes(16));
        l.BindBlob(5, salt).BindBlob(6, HashAccessCode(*access_code, salt));
      } else {
        l.BindNull(5).BindNull(6);
      }
      return l.Run();
    }();
    if (!st.ok()) {
      (void)db_->Exec("ROLLBACK");
      return st;
    }
    TSUNAGU_RETURN_IF_ERROR(db_->Exec("COMMIT"));
    deps_.logger->info("study.committed study_key={} instances={} already={} expires_ms={}",
                       ShortHash(study), instances.size(), outcome.already_committed,
                       ToMs(outcome.expires_at));
    return outcome;
  }

  Result<ReachableStudy> ResolveLink(std::string_view token,
                                     const std::optional<std::string>& access_code) override {
    const std::string hash = common::HexEncode(common::Sha256(token));
    std::lock_guard lock(mu_);
    TSUNAGU_ASSIGN_OR_RETURN(
        Stmt s, db_->Prepare("SELECT l.id, l.study, l.expires_at, l.revoked, l.code_salt, "
                             "l.code_hash, l.failures, l.last_failure, s.state, s.expires_at "
                             "FROM links l LEFT JOIN studies s ON s.uid = l.study WHERE "
                             "l.token_hash=?1"));
    s.Bind(1, hash);
    TSUNAGU_ASSIGN_OR_RETURN(bool found, s.Step());
    if (!found) return common::NotFoundError(std::string(kLinkUnknown));
    const TimePoint now = deps_.clock->SystemNow();
    ReachableStudy out{s.Text(1), FromMs(s.Int(2)), s.Int(0)};
    if (s.Int(3) != 0) return common::PermissionDeniedError(std::string(kLinkRevoked));
    if (s.IsNull(8) || s.Text(8) != "committed" || FromMs(s.Int(9)) <= now ||
        out.expires_at <= now) {
      return common::NotFoundError(std::string(kLinkExpired));
    }
    const int failures = static_cast<int>(s.Int(6));
    if (failures >= options_.access_code_max_failures) {
      return common::PermissionDeniedError(std::string(kLinkLocked));
    }
    if (!s.IsNull(5)) {
      if (!access_code) return common::UnauthenticatedError("the link needs an access code");
      if (!s.IsNull(7) && now - FromMs(s.Int(7)) < options_.access_code_delay) {
        return common::ResourceExhaustedError("wait before trying another access code");
      }
      const std::string salt = s.Blob(4);
      const std::string expected = s.Blob(5);
      if (!common::ConstantTimeEquals(HashAccessCode(*access_code, salt), expected)) {
        TSUNAGU_ASSIGN_OR_RETURN(Stmt u, db_->Prepare("UPDATE links SET failures=failures+1, "
                                                      "last_failure=?2 WHERE id=?1"));
        u.Bind(1, out.link_id).Bind(2, ToMs(now));
        TSUNAGU_RETURN_IF_ERROR(u.Run());
        deps_.logger->warn("link.wrong_code link={} failures={}", out.link_id, failures + 1);
        if (failures + 1 >= options_.access_code_max_failures) {
          return common::PermissionDeniedError(std::string(kLinkLocked));
        }
        return common::UnauthenticatedError("wrong access code");
      }
      if (failures > 0) {
        TSUNAGU_ASSIGN_OR_RETURN(Stmt u, db_->Prepare("UPDATE links SET failures=0 WHERE id=?1"));
        u.Bind(1, out.link_id);
        TSUNAGU_RETURN_IF_ERROR(u.Run());
      }
    }
    return out;
  }

  Result<int> RevokeLinks(const std::string& study) override {
    std::lock_guard lock(mu_);
    TSUNAGU_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("UPDATE links SET revoked=1 WHERE study=?1 AND "
                                                  "revoked=0"));
    s.Bind(1, study);
    TSUNAGU_RETURN_IF_ERROR(s.Run());
    const int n = sqlite3_changes(db_->raw());
    if (n > 0) {
      // Recorded in the access log (link events, issue 9): the gateway learns of a revocation
      // made at the relay and edits the chat card. Time only.
      TSUNAGU_ASSIGN_OR_RETURN(Stmt a, db_->Prepare("INSERT INTO access_log(study, time, link_id, "
                                                    "event, address, user_agent) "
                                                    "VALUES(?1,?2,'','revoked','','')"));
      a.Bind(1, study).Bind(2, ToMs(deps_.clock->SystemNow()));
      TSUNAGU_RETURN_IF_ERROR(a.Run());
    }
    deps_.logger->info("links.revoked study_key={} count={}", ShortHash(study), n);
    return n;
  }

  Result<std::vector<StoredInstance>> ListInstances(const std::string& study) override {
    std::lock_guard lock(mu_);
    TSUNAGU_ASSIGN_OR_RETURN(StudyRow row, ReachableLocked(study));
    TSUNAGU_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT sop, series, size, metadata FROM "
                                                  "instances WHERE study=?1 ORDER BY rowid"));
    s.Bind(1, study);
    std::vector<StoredInstance> out;
    for (;;) {
      TSUNAGU_ASSIGN_OR_RETURN(bool more, s.Step());
      if (!more) break;
      StoredInstance inst{s.Text(0), s.Text(1), static_cast<std::uint64_t>(s.Int(2)), {}};
      std::size_t used = 0;
      TSUNAGU_ASSIGN_OR_RETURN(
          inst.metadata_json,
          internal::OpenRecord(row.key, MetadataAad(study, inst.sop_uid), s.Blob(3), used));
      out.push_back(std::move(inst));
    }
    return out;
  }

  Result<std::string> ReadInstance(const std::string& study, const std::string& sop) override {
    std::string key;
    std::filesystem::path path;
    {
      std::lock_guard lock(mu_);
      TSUNAGU_ASSIGN_OR_RETURN(StudyRow row, ReachableLocked(study));
      TSUNAGU_ASSIGN_OR_RETURN(Stmt s,
                               db_->Prepare("SELECT 1 FROM instances WHERE study=?1 AND sop=?2"));
      s.Bind(1, study).Bind(2, sop);
      TSUNAGU_ASSIGN_OR_RETURN(bool found, s.Step());
      if (!found) return common::NotFoundError("no such instance in this study");
      key = row.key;
      path = FinalPath(row.dir, sop);
    }
    TSUNAGU_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
    return DecryptInstanceFile(key, study, sop, bytes);
  }

  Status PutDerived(const std::string& study, std::string_view name,
                    std::string_view bytes) override {
    // Under the mutex throughout, so that a concurrent Purge cannot remove the directory between
    // the check and the write (create_directory below never recreates a purged study's folder).
    std::lock_guard lock(mu_);
    TSUNAGU_ASSIGN_OR_RETURN(StudyRow row, ReachableLocked(study));
    const auto dir = StudyDir(row.dir) / "derived";
    const auto path = DerivedPath(row.dir, name);
    auto used = derived_bytes_.find(study);
    if (used == derived_bytes_.end()) {
      std::uint64_t total = 0;
      std::error_code ec;
      for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
        std::error_code size_ec;
        const auto n = e.file_size(size_ec);
        if (!size_ec) total += n;
      }
      used = derived_bytes_.emplace(study, total).first;
    }
    std::error_code ec;
    const std::uint64_t old_size =
        std::filesystem::exists(path, ec) ? std::filesystem::file_size(path, ec) : 0;
    const std::uint64_t size = bytes.size() + internal::kRecordOverhead;
    if (used->second - std::min(used->second, old_size) + size > options_.derived_bytes_per_study) {
      return common::ResourceExhaustedError("the study's derived data allowance is used up");
    }
    common::LocalFileSystem fs;
    auto free = fs.FreeSpace(options_.data_directory);
    if (free.ok() && *free < size + (64ULL << 20)) {
      return common::DiskFullError("the relay's disk is nearly full");
    }
    TSUNAGU_ASSIGN_OR_RETURN(std::string record,
                             internal::SealRecord(row.key, DerivedAad(study, name), bytes));
    std::filesystem::create_directory(dir, ec);
    if (ec) return common::StatusFromErrno(ec.value(), "create derived data directory");
    // A cache: written atomically (a reader never sees half a file) but not synced.
    const auto tmp = path.string() + ".tmp";
    {
      const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) return common::StatusFromErrno(errno, "open derived data file");
      std::size_t done = 0;
      while (done < record.size()) {
        const ssize_t n = ::write(fd, record.data() + done, record.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          const Status st = common::StatusFromErrno(errno, "write derived data file");
          ::close(fd);
          std::filesystem::remove(tmp, ec);
          return st;
        }
        done += static_cast<std::size_t>(n);
      }
      ::close(fd);
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
      std::error_code rm;
      std::filesystem::remove(tmp, rm);
      return common::StatusFromErrno(ec.value(), "rename derived data file");
    }
    used->second = used->second - std::min(used->second, old_size) + record.size();
    return Status::Ok();
  }

  Result<std::string> GetDerived(const std::string& study, std::string_view name) override {
    std::string key;
    std::filesystem::path path;
    {
      std::lock_guard lock(mu_);
      TSUNAGU_ASSIGN_OR_RETURN(StudyRow row, ReachableLocked(study));
      key = row.key;
      path = DerivedPath(row.dir, name);
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return common::NotFoundError("no such derived data");
      return common::StatusFromErrno(errno, "open derived data file");
    }
    ::close(fd);
    TSUNAGU_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
    std::size_t used = 0;
    TSUNAGU_ASSIGN_OR_RETURN(std::string plain,
                             internal::OpenRecord(key, DerivedAad(study, name), bytes, used));
    if (used != bytes.size()) return common::DataLossError("trailing bytes in derived data file");
    return plain;
  }

  Result<std::vector<DeletionReceipt>> Purge() override {
    std::lock_guard lock(mu_);
    const TimePoint now = deps_.clock->SystemNow();
    const std::int64_t abandoned_before = ToMs(now - options_.retention);
    std::vector<std::pair<std::string, std::string>> victims;  // uid, reason
    {
      TSUNAGU_ASSIGN_OR_RETURN(
          Stmt s, db_->Prepare("SELECT uid, state FROM studies WHERE (state='committed' AND "
                               "expires_at<=?1) OR (state='uploading' AND created_at<=?2)"));
      s.Bind(1, ToMs(now)).Bind(2, abandoned_before);
      for (;;) {
        TSUNAGU_ASSIGN_OR_RETURN(bool more, s.Step());
        if (!more) break;
        victims.emplace_back(s.Text(0), s.Text(1) == "committed" ? "expired" : "abandoned");
      }
    }
    std::vector<DeletionReceipt> receipts;
    for (const auto& [study, reason] : victims) {
      TSUNAGU_ASSIGN_OR_RETURN(std::optional<StudyRow> row, StudyLocked(study));
      if (!row) continue;
      DeletionReceipt receipt{study, now, 0, reason};
      // 1. The key, in its own committed transaction, then out of the WAL (secure_delete zeroes
      // the freed space; the checkpoint moves the WAL into the database and truncates it so no
      // old frame still carries the key). From here on the study's files are unreadable.
      {
        TSUNAGU_ASSIGN_OR_RETURN(Stmt k, db_->Prepare("DELETE FROM keys.study_keys WHERE uid=?1"));
        k.Bind(1, study);
        TSUNAGU_RETURN_IF_ERROR(k.Run());
        TSUNAGU_RETURN_IF_ERROR(db_->Exec("PRAGMA keys.wal_checkpoint(TRUNCATE)"));
      }
      // 2. The index rows and the receipt.
      TSUNAGU_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
      Status st = [&]() -> Status {
        TSUNAGU_ASSIGN_OR_RETURN(Stmt c,
                                 db_->Prepare("SELECT COUNT(*) FROM instances WHERE study=?1"));
        c.Bind(1, study);
        TSUNAGU_ASSIGN_OR_RETURN(bool has, c.Step());
        receipt.instance_count = has ? static_cast<std::uint64_t>(c.Int(0)) : 0;
        for (const char* sql :
             {"DELETE FROM studies WHERE uid=?1", "DELETE FROM instances WHERE study=?1",
              "DELETE FROM uploads WHERE study=?1", "DELETE FROM links WHERE study=?1"}) {
          TSUNAGU_ASSIGN_OR_RETURN(Stmt d, db_->Prepare(sql));
          d.Bind(1, study);
          TSUNAGU_RETURN_IF_ERROR(d.Run());
        }
        TSUNAGU_ASSIGN_OR_RETURN(Stmt r, db_->Prepare("INSERT OR REPLACE INTO receipts(study, "
                                                      "deleted_at, instance_count, reason) "
                                                      "VALUES(?1,?2,?3,?4)"));
        r.Bind(1, study)
            .Bind(2, ToMs(now))
            .Bind(3, static_cast<std::int64_t>(receipt.instance_count))
            .Bind(4, reason);
        return r.Run();
      }();
      if (!st.ok()) {
        (void)db_->Exec("ROLLBACK");
        return st;
      }
      TSUNAGU_RETURN_IF_ERROR(db_->Exec("COMMIT"));
      TSUNAGU_RETURN_IF_ERROR(db_->Exec("PRAGMA main.wal_checkpoint(TRUNCATE)"));
      // 3. The files (derived data included).
      derived_bytes_.erase(study);
      std::error_code ec;
      std::filesystem::remove_all(StudyDir(row->dir), ec);
      if (ec) {
        deps_.logger->error("purge.files_left study_key={} error=\"{}\"", ShortHash(study),
                            ec.message());
      }
      deps_.logger->info("study.purged study_key={} reason={} instances={}", ShortHash(study),
                         reason, receipt.instance_count);
      receipts.push_back(std::move(receipt));
    }
    SweepOrphansLocked();
    return receipts;
  }

  Result<DeletionReceipt> GetReceipt(const std::string& study) override {
    std::lock_guard lock(mu_);
    TSUNAGU_ASSIGN_OR_RETURN(auto receipt, ReceiptLocked(study));
    if (!receipt) return common::NotFoundError("the study has not been deleted");
    return *receipt;
  }

  Result<std::uint64_t> UsedBytes() override {
    std::lock_guard lock(mu_);
    return UsedBytesLocked();
  }

  Status RecordAccess(const std::vector<std::pair<std::string, AccessEntry>>& entries) override {
    if (entries.empty()) return Status::Ok();
    std::lock_guard lock(mu_);
    TSUNAGU_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
    Status st = [&]() -> Status {
      for (const auto& [study, e] : entries) {
        TSUNAGU_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO access_log(study, time, "
                                                      "link_id, event, address, user_agent) "
                                                      "VALUES(?1,?2,?3,?4,?5,?6)"));
        s.Bind(1, study)
            .Bind(2, ToMs(e.time))
            .Bind(3, e.link_id)
            .Bind(4, e.event)
            .Bind(5, e.client_address)
            .Bind(6, e.user_agent.substr(0, 256));
        TSUNAGU_RETURN_IF_ERROR(s.Run());
      }
      return Status::Ok();
    }();
    if (!st.ok()) {
      (void)db_->Exec("ROLLBACK");
      return st;
    }
    return db_->Exec("COMMIT");
  }

  Result<std::vector<AccessEntry>> AccessLog(const std::string& study) override {
    std::lock_guard lock(mu_);
    TSUNAGU_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT time, link_id, event, address, "
                                                  "user_agent FROM access_log WHERE study=?1 "
                                                  "ORDER BY id"));
    s.Bind(1, study);
    std::vector<AccessEntry> out;
    for (;;) {
      TSUNAGU_ASSIGN_OR_RETURN(bool more, s.Step());
      if (!more) break;
      out.push_back({FromMs(s.Int(0)), s.Int(1), s.Text(2), s.Text(3), s.Text(4)});
    }
    return out;
  }

  Result<std::string> StudyKeyForTest(const std::string& study) override {
    std::lock_guard lock(mu_);
    TSUNAGU_ASSIGN_OR_RETURN(auto row, StudyLocked(study));
    if (!row || row->key.empty()) return common::NotFoundError("no key");
    return row->key;
  }

 private:
  struct StudyRow {
    std::string dir;
    std::string key;
    std::string state;
    std::int64_t expires_at = 0;
  };
  struct UploadRow {
    std::uint64_t total = 0;
    std::string sha256;
    std::uint64_t received = 0;
    std::uint64_t records = 0;
    std::uint64_t file_bytes = 0;
  };

  // Before a study becomes visible: every file written since the last sync reaches stable
  // storage (one syncfs for the whole study; the writeback of each instance's file was started
  // when it was written, so this mostly waits for the disk to finish), and every listed
  // instance's file is checked to be there, whole, in case the host lost power after the
  // instance was indexed (its index row, not synced on arrival, can reach the disk before its
  // file through a WAL checkpoint). A lost instance is forgotten and the commit refused, so the
  // gateway sends it again. The commit's own transaction is synced (synchronous=FULL), and with
  // it every earlier unsynced index row of the WAL.
  // (An fdatasync of each of the study's files instead of syncfs, measured with a 300-slice CT
  // on this ext4 (tests/bench/relay): about 1 s per commit, a journal commit per file; syncfs
  // after the early writeback: 0.01-0.03 s.)
  Status MakeStudyDurableLocked(const StudyRow& row, const std::string& study,
                                const std::vector<CommitInstance>& instances,
                                const std::vector<std::uint64_t>& file_bytes) {
    const int dir = ::open(StudyDir(row.dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return common::StatusFromErrno(errno, "open study directory");
    Status st;
    if (::syncfs(dir) != 0) st = common::StatusFromErrno(errno, "sync study files");
    ::close(dir);
    TSUNAGU_RETURN_IF_ERROR(st);
    for (std::size_t i = 0; i < instances.size(); ++i) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(FinalPath(row.dir, instances[i].sop_uid), ec);
      if (!ec && size == file_bytes[i]) continue;
      deps_.logger->error("commit.instance_lost study_key={} position={}", ShortHash(study), i + 1);
      TSUNAGU_ASSIGN_OR_RETURN(Stmt d,
                               db_->Prepare("DELETE FROM instances WHERE study=?1 AND sop=?2"));
      d.Bind(1, study).Bind(2, instances[i].sop_uid);
      TSUNAGU_RETURN_IF_ERROR(d.Run());
      return common::FailedPreconditionError("instance " + std::to_string(i + 1) +
                                             " of the commit was lost by the relay (host "
                                             "restart); upload it again");
    }
    return Status::Ok();
  }

  // What AppendChunk does first, under the lock: the answer when the instance is already held
  // (or refused), else the study (created if needed) and the upload in progress, if any.
  struct Prepared {
    std::optional<UploadProgress> answer;
    StudyRow row;
    std::optional<UploadRow> upload;
  };
  Result<Prepared> PrepareLocked(const std::string& study, const std::string& sop,
                                 std::uint64_t total, const std::string& sha256_hex) {
    Prepared out;
    TSUNAGU_ASSIGN_OR_RETURN(UploadProgress progress, ProgressLocked(study, sop));
    TSUNAGU_ASSIGN_OR_RETURN(std::optional<StudyRow> row, StudyLocked(study));
    if (progress.complete) {
      TSUNAGU_ASSIGN_OR_RETURN(auto stored_hash, InstanceHashLocked(study, sop));
      if (stored_hash != sha256_hex || progress.size != total) {
        return common::AlreadyExistsError(
            "the relay already holds this instance with different content");
      }
      out.answer = progress;
      return out;
    }
    if (row && row->state == "committed") {
      return common::AlreadyExistsError("the study is committed; this instance is not part of it");
    }
    if (!row) {
      TSUNAGU_ASSIGN_OR_RETURN(auto receipt, ReceiptLocked(study));
      if (receipt) {
        return common::FailedPreconditionError("the study was deleted by retention");
      }
      TSUNAGU_ASSIGN_OR_RETURN(row, CreateStudyLocked(study));
    }
    TSUNAGU_ASSIGN_OR_RETURN(out.upload, UploadLocked(study, sop));
    if (out.upload && (out.upload->total != total || out.upload->sha256 != sha256_hex)) {
      return common::InvalidArgumentError(
          "size or SHA-256 differ from the upload in progress for this instance");
    }
    out.row = std::move(*row);
    return out;
  }

  // A whole instance in one request. Hashing, the DICOM re-check, encryption and the file write
  // run outside the lock, so that instances sent in parallel are processed in parallel; the lock
  // is taken again only to put the file in place and index it. The file is not synced here:
  // Commit syncs the file system once for the whole study before the study becomes visible
  // (relay/PROTOCOL.md, "Durability"). nullopt when an upload of this instance is in progress in
  // chunks: the chunked path takes over.
  Result<std::optional<UploadProgress>> PutWhole(const std::string& study, const std::string& sop,
                                                 const std::string& sha256_hex,
                                                 std::string_view plain,
                                                 const InstanceValidator& validator) {
    const std::uint64_t total = plain.size();
    StudyRow row;
    {
      std::lock_guard lock(mu_);
      TSUNAGU_ASSIGN_OR_RETURN(Prepared prepared, PrepareLocked(study, sop, total, sha256_hex));
      if (prepared.answer) return prepared.answer;
      if (prepared.upload && prepared.upload->received > 0) return std::optional<UploadProgress>();
      TSUNAGU_RETURN_IF_ERROR(CheckQuotaLocked(total + internal::kRecordOverhead));
      row = std::move(prepared.row);
    }
    TSUNAGU_ASSIGN_OR_RETURN(std::string suffix, common::RandomBytes(8));
    const auto temp =
        StudyDir(row.dir) / (ShortHash(sop) + "." + common::HexEncode(suffix) + ".tmp");
    std::string series_uid;
    std::string meta;
    std::uint64_t file_bytes = 0;
    Status st = [&]() -> Status {
      // Damage in transit (the request's body differs from the declared hash): resend it.
      if (!common::ConstantTimeEquals(common::HexEncode(common::Sha256(plain)), sha256_hex)) {
        return Status(common::ErrorCode::kIntegrity,
                      "the instance's SHA-256 does not match the declared one; resend it",
                      /*retryable=*/true);
      }
      TSUNAGU_ASSIGN_OR_RETURN(InstanceInfo info, validator(study, sop, plain));
      series_uid = std::move(info.series_uid);
      TSUNAGU_ASSIGN_OR_RETURN(
          meta, internal::SealRecord(row.key, MetadataAad(study, sop), info.metadata_json));
      TSUNAGU_ASSIGN_OR_RETURN(std::string record,
                               internal::SealRecord(row.key, RecordAad(study, sop, 0), plain));
      file_bytes = record.size();
      return WriteNewFile(temp, record);
    }();
    std::error_code ignored;
    if (!st.ok()) {
      std::filesystem::remove(temp, ignored);
      deps_.logger->warn("upload.rejected study_key={} code={} reason=\"{}\"", ShortHash(study),
                         common::ErrorCodeName(st.code()), st.message());
      return st;
    }
    std::lock_guard lock(mu_);
    // Meanwhile another request may have delivered the instance, or a commit or a purge may
    // have changed the study: decide again.
    TSUNAGU_ASSIGN_OR_RETURN(Prepared again, PrepareLocked(study, sop, total, sha256_hex));
    if (again.answer || again.row.key != row.key || (again.upload && again.upload->received > 0)) {
      std::filesystem::remove(temp, ignored);
      if (again.answer) return again.answer;
      return common::UnavailableError("the instance changed while it was being stored; resend it");
    }
    common::LocalFileSystem fs;
    TSUNAGU_RETURN_IF_ERROR(fs.Rename(temp, FinalPath(row.dir, sop)));
    TSUNAGU_RETURN_IF_ERROR(RecordInstanceLocked(study, sop, series_uid, sha256_hex, total,
                                                 file_bytes, meta, /*durable=*/false));
    return std::optional<UploadProgress>(UploadProgress{total, total, true});
  }

  std::filesystem::path StudyDir(const std::string& dir) const {
    return options_.data_directory / "studies" / dir;
  }
  std::filesystem::path PartPath(const std::string& dir, const std::string& sop) const {
    return StudyDir(dir) / (ShortHash(sop) + ".part");
  }
  std::filesystem::path FinalPath(const std::string& dir, const std::string& sop) const {
    return StudyDir(dir) / (ShortHash(sop) + ".enc");
  }
  std::filesystem::path DerivedPath(const std::string& dir, std::string_view name) const {
    return StudyDir(dir) / "derived" / (ShortHash(name) + ".enc");
  }

  Result<std::optional<StudyRow>> StudyLocked(const std::string& study) {
    TSUNAGU_ASSIGN_OR_RETURN(Stmt s,
                             db_->Prepare("SELECT s.dir, k.key, s.state, s.expires_at FROM "
                                          "studies s LEFT JOIN keys.study_keys k ON k.uid = "
                                          "s.uid WHERE s.uid=?1"));
    s.Bind(1, study);
    TSUNAGU_ASSIGN_OR_RETURN(bool found, s.Step());
    if (!found) return std::optional<StudyRow>();
    return std::optional<StudyRow>(StudyRow{s.Text(0), s.Blob(1), s.Text(2), s.Int(3)});
  }

  Result<StudyRow> ReachableLocked(const std::string& study) {
    TSUNAGU_ASSIGN_OR_RETURN(auto row, StudyLocked(study));
    if (!row || row->state != "committed" || FromMs(row->expires_at) <= deps_.clock->SystemNow()) {
      return common::NotFoundError("no such study (or it has expired)");
    }
    return *row;
  }

  Result<StudyRow> CreateStudyLocked(const std::string& study) {
    TSUNAGU_ASSIGN_OR_RETURN(std::string key, common::RandomBytes(internal::kKeyBytes));
    const std::string dir = ShortHash(study);
    {
      TSUNAGU_ASSIGN_OR_RETURN(Stmt k, db_->Prepare("INSERT OR REPLACE INTO keys.study_keys(uid, "
                                                    "key) VALUES(?1,?2)"));
      k.Bind(1, study).BindBlob(2, key);
      TSUNAGU_RETURN_IF_ERROR(k.Run());
    }
    TSUNAGU_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("INSERT INTO studies(uid, dir, state, "
                                                  "created_at) VALUES(?1,?2,'uploading',?3)"));
    s.Bind(1, study).Bind(2, dir).Bind(3, ToMs(deps_.clock->SystemNow()));
    TSUNAGU_RETURN_IF_ERROR(s.Run());
    std::error_code ec;
    std::filesystem::create_directories(StudyDir(dir), ec);
    if (ec) return common::StatusFromErrno(ec.value(), "create study directory");
    return StudyRow{dir, key, "uploading", 0};
  }

  Result<std::optional<UploadRow>> UploadLocked(const std::string& study, const std::string& sop) {
    TSUNAGU_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT total, sha256, received, records, "
                                                  "file_bytes FROM uploads WHERE study=?1 AND "
                                                  "sop=?2"));
    s.Bind(1, study).Bind(2, sop);
    TSUNAGU_ASSIGN_OR_RETURN(bool found, s.Step());
    if (!found) return std::optional<UploadRow>();
    return std::optional<UploadRow>(UploadRow{
        static_cast<std::uint64_t>(s.Int(0)), s.Text(1), static_cast<std::uint64_t>(s.Int(2)),
        static_cast<std::uint64_t>(s.Int(3)), static_cast<std::uint64_t>(s.Int(4))});
  }

  Result<std::string> InstanceHashLocked(const std::string& study, const std::string& sop) {
    TSUNAGU_ASSIGN_OR_RETURN(
        Stmt s, db_->Prepare("SELECT sha256 FROM instances WHERE study=?1 AND sop=?2"));
    s.Bind(1, study).Bind(2, sop);
    TSUNAGU_ASSIGN_OR_RETURN(bool found, s.Step());
    if (!found) return common::NotFoundError("no such instance");
    return s.Text(0);
  }

  Result<UploadProgress> ProgressLocked(const std::string& study, const std::string& sop) {
    {
      TSUNAGU_ASSIGN_OR_RETURN(
          Stmt s, db_->Prepare("SELECT size FROM instances WHERE study=?1 AND sop=?2"));
      s.Bind(1, study).Bind(2, sop);
      TSUNAGU_ASSIGN_OR_RETURN(bool found, s.Step());
      if (found) {
        const auto size = static_cast<std::uint64_t>(s.Int(0));
        return UploadProgress{size, size, true};
      }
    }
    TSUNAGU_ASSIGN_OR_RETURN(auto upload, UploadLocked(study, sop));
    if (!upload) return UploadProgress{};
    return UploadProgress{upload->received, upload->total, false};
  }

  Result<std::optional<DeletionReceipt>> ReceiptLocked(const std::string& study) {
    TSUNAGU_ASSIGN_OR_RETURN(Stmt s, db_->Prepare("SELECT deleted_at, instance_count, reason FROM "
                                                  "receipts WHERE study=?1"));
    s.Bind(1, study);
    TSUNAGU_ASSIGN_OR_RETURN(bool found, s.Step());
    if (!found) return std::optional<DeletionReceipt>();
    return std::optional<DeletionReceipt>(
        DeletionReceipt{study, FromMs(s.Int(0)), static_cast<std::uint64_t>(s.Int(1)), s.Text(2)});
  }

  Result<std::uint64_t> UsedBytesLocked() {
    TSUNAGU_ASSIGN_OR_RETURN(Stmt s,
                             db_->Prepare("SELECT (SELECT IFNULL(SUM(file_bytes),0) FROM "
                                          "instances) + (SELECT IFNULL(SUM(file_bytes),0) FROM "
                                          "uploads)"));
    TSUNAGU_ASSIGN_OR_RETURN(bool found, s.Step());
    return found ? static_cast<std::uint64_t>(s.Int(0)) : 0;
  }

  Status CheckQuotaLocked(std::uint64_t more) {
    TSUNAGU_ASSIGN_OR_RETURN(std::uint64_t used, UsedBytesLocked());
    if (used + more > options_.quota_bytes) {
      deps_.logger->warn("store.quota_full used={} quota={}", used, options_.quota_bytes);
      return common::DiskFullError(
          "the relay's store is at its quota; retry after expired studies are purged");
    }
    common::LocalFileSystem fs;
    auto free = fs.FreeSpace(options_.data_directory);
    if (free.ok() && *free < more + (16ULL << 20)) {
      deps_.logger->warn("store.disk_full free={}", *free);
      return common::DiskFullError("the relay's disk is full; retry later");
    }
    return Status::Ok();
  }

  Status FinishUploadLocked(const StudyRow& row, const std::string& study, const std::string& sop,
                            std::uint64_t total, const std::string& sha256_hex,
                            std::uint64_t file_bytes, const InstanceValidator& validator) {
    const auto part = PartPath(row.dir, sop);
    TSUNAGU_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(part));
    TSUNAGU_ASSIGN_OR_RETURN(std::string plain, DecryptInstanceFile(row.key, study, sop, bytes));
    if (plain.size() != total) return common::IntegrityError("instance size mismatch");
    TSUNAGU_ASSIGN_OR_RETURN(InstanceInfo info,
                             CheckInstance(study, sop, sha256_hex, plain, validator));
    TSUNAGU_ASSIGN_OR_RETURN(
        std::string meta,
        internal::SealRecord(row.key, MetadataAad(study, sop), info.metadata_json));
    common::LocalFileSystem fs;
    TSUNAGU_RETURN_IF_ERROR(fs.Rename(part, FinalPath(row.dir, sop)));
    return RecordInstanceLocked(study, sop, info.series_uid, sha256_hex, total, file_bytes, meta,
                                /*durable=*/true);
  }

  // Checks a complete instance: its SHA-256, then the validator (the DICOM re-check).
  static Result<InstanceInfo> CheckInstance(const std::string& study, const std::string& sop,
                                            const std::string& sha256_hex, std::string_view plain,
                                            const InstanceValidator& validator) {
    if (!common::ConstantTimeEquals(common::HexEncode(common::Sha256(plain)), sha256_hex)) {
      return common::IntegrityError("the instance's SHA-256 does not match the declared one");
    }
    return validator(study, sop, plain);
  }

  // Indexes a complete instance whose file is in place. `durable` false: the transaction is
  // not synced (it survives a crash of the process, not of the host) because Commit syncs it.
  Status RecordInstanceLocked(const std::string& study, const std::string& sop,
                              const std::string& series_uid, const std::string& sha256_hex,
                              std::uint64_t size, std::uint64_t file_bytes,
                              const std::string& sealed_meta, bool durable) {
    if (!durable) TSUNAGU_RETURN_IF_ERROR(db_->Exec("PRAGMA main.synchronous=NORMAL"));
    Status st = [&]() -> Status {
      TSUNAGU_RETURN_IF_ERROR(db_->Exec("BEGIN IMMEDIATE"));
      Status inner = [&]() -> Status {
        TSUNAGU_ASSIGN_OR_RETURN(Stmt i, db_->Prepare("INSERT OR REPLACE INTO instances(study, "
                                                      "sop, series, sha256, size, file_bytes, "
                                                      "metadata) VALUES(?1,?2,?3,?4,?5,?6,?7)"));
        i.Bind(1, study)
            .Bind(2, sop)
            .Bind(3, series_uid)
            .Bind(4, sha256_hex)
            .Bind(5, static_cast<std::int64_t>(size))
            .Bind(6, static_cast<std::int64_t>(file_bytes))
            .BindBlob(7, sealed_meta);
        TSUNAGU_RETURN_IF_ERROR(i.Run());
        TSUNAGU_ASSIGN_OR_RETURN(Stmt d, db_->Prepare("DELETE FROM uploads WHERE study=?1 AND "
                                                      "sop=?2"));
        d.Bind(1, study).Bind(2, sop);
        return d.Run();
      }();
      if (!inner.ok()) {
        (void)db_->Exec("ROLLBACK");
        return inner;
      }
      return db_->Exec("COMMIT");
    }();
    if (!durable) {
      const Status back = db_->Exec("PRAGMA main.synchronous=FULL");
      if (st.ok()) st = back;
    }
    return st;
  }

  void DiscardUploadLocked(const StudyRow& row, const std::string& study, const std::string& sop) {
    auto d = db_->Prepare("DELETE FROM uploads WHERE study=?1 AND sop=?2");
    if (d.ok()) {
      d->Bind(1, study).Bind(2, sop);
      (void)d->Run();
    }
    std::error_code ec;
    std::filesystem::remove(PartPath(row.dir, sop), ec);
  }

  // Removes study directories the index no longer knows (a purge interrupted after destroying
  // the key and before removing the files).
  void SweepOrphansLocked() {
    (void)db_->Exec("DELETE FROM keys.study_keys WHERE uid NOT IN (SELECT uid FROM main.studies)");
    std::set<std::string> known;
    auto s = db_->Prepare("SELECT dir FROM studies");
    if (!s.ok()) return;
    for (;;) {
      auto more = s->Step();
      if (!more.ok() || !*more) break;
      known.insert(s->Text(0));
    }
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(options_.data_directory / "studies", ec)) {
      if (!known.count(entry.path().filename().string())) {
        std::error_code rm;
        std::filesystem::remove_all(entry.path(), rm);
        deps_.logger->info("purge.orphan_removed dir={}", entry.path().filename().string());
      }
    }
  }

  const StoreOptions options_;
  const StoreDeps deps_;
  std::mutex mu_;
  std::unique_ptr<Db> db_;  // GUARDED_BY(mu_)
  // Bytes of derived data per study, counted from its directory on first use.
  std::map<std::string, std::uint64_t> derived_bytes_;  // GUARDED_BY(mu_)
};

}  // namespace

const common::Schema& StudyIndexSchema() {
  // Append steps; never edit a released one (see tsunagu/common/sqlite_schema.h).
  static const common::Schema kIndex{
      .store = "relay index",
      .marker_table = "studies",
      .steps =
          {
              {1,
               "baseline",
               "CREATE TABLE IF NOT EXISTS studies(uid TEXT PRIMARY KEY, dir TEXT NOT NULL, "
               "state TEXT NOT NULL, created_at INTEGER NOT NULL, committed_at INTEGER, "
               "expires_at INTEGER, thread TEXT);"
               "CREATE TABLE IF NOT EXISTS uploads(study TEXT NOT NULL, sop TEXT NOT NULL, total "
               "INTEGER NOT NULL, sha256 TEXT NOT NULL, received INTEGER NOT NULL, records INTEGER "
               "NOT NULL, file_bytes INTEGER NOT NULL, PRIMARY KEY(study, sop));"
               "CREATE TABLE IF NOT EXISTS instances(study TEXT NOT NULL, sop TEXT NOT NULL, "
               "series TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, file_bytes "
               "INTEGER NOT NULL, metadata BLOB NOT NULL, PRIMARY KEY(study, sop));"
               "CREATE TABLE IF NOT EXISTS links(id INTEGER PRIMARY KEY, token_hash TEXT NOT NULL "
               "UNIQUE, study TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT "
               "NULL, revoked INTEGER NOT NULL DEFAULT 0, code_salt BLOB, code_hash BLOB, failures "
               "INTEGER NOT NULL DEFAULT 0, last_failure INTEGER);"
               "CREATE INDEX IF NOT EXISTS links_by_study ON links(study);"
               "CREATE TABLE IF NOT EXISTS receipts(study TEXT PRIMARY KEY, deleted_at INTEGER NOT "
               "NULL, instance_count INTEGER NOT NULL, reason TEXT NOT NULL);"
               "CREATE TABLE IF NOT EXISTS access_log(id INTEGER PRIMARY KEY, study TEXT NOT NULL, "
               "time INTEGER NOT NULL, link_id INTEGER, event TEXT NOT NULL, address TEXT, "
               "user_agent TEXT);"
               "CREATE INDEX IF NOT EXISTS access_by_study ON access_log(study);",
               {}},
              // The first release kept keys in studies.key (NOT NULL, so that release's index
              // refuses every new study now). The key store's step 2 copied them; the copy here
              // is a no-op unless that database was replaced meanwhile. With secure_delete on,
              // dropping the column overwrites the keys in the index file.
              {2,
               "studies.key moves to the key store",
               {},
               [](sqlite3* db) -> Status {
                 TSUNAGU_ASSIGN_OR_RETURN(bool legacy,
                                          common::HasColumn(db, "main", "studies", "key"));
                 if (!legacy) return Status::Ok();
                 return common::ExecSql(db,
                                        "INSERT OR IGNORE INTO keys.study_keys(uid, key) SELECT "
                                        "uid, key FROM main.studies WHERE key IS NOT NULL;"
                                        "ALTER TABLE main.studies DROP COLUMN key;",
                                        "drop studies.key");
               }},
          },
  };
  return kIndex;
}

Result<std::string> DecryptInstanceFile(std::string_view key, std::string_view study,
                                        std::string_view sop, std::string_view file_bytes) {
  std::string out;
  std::uint64_t index = 0;
  while (!file_bytes.empty()) {
    std::size_t used = 0;
    TSUNAGU_ASSIGN_OR_RETURN(
        std::string part,
        internal::OpenRecord(key, RecordAad(study, sop, index), file_bytes, used));
    out += part;
    file_bytes.remove_prefix(used);
    ++index;
  }
  return out;
}

Result<std::unique_ptr<StudyStore>> StudyStore::Open(StoreOptions options, StoreDeps deps) {
  if (options.data_directory.empty()) {
    return common::InvalidArgumentError("the store needs a data directory");
  }
  if (!deps.clock || !deps.logger) return common::InvalidArgumentError("store deps missing");
  std::error_code ec;
  std::filesystem::create_directories(options.data_directory / "studies", ec);
  if (ec) {
    return common::StatusFromErrno(ec.value(),
                                   "create data directory " + options.data_directory.string());
  }
  std::filesystem::permissions(options.data_directory, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  if (options.key_directory.empty()) options.key_directory = options.data_directory / "keys";
  std::filesystem::create_directories(options.key_directory, ec);
  if (ec) {
    return common::StatusFromErrno(ec.value(),
                                   "create key directory " + options.key_directory.string());
  }
  std::filesystem::permissions(options.key_directory, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  TSUNAGU_ASSIGN_OR_RETURN(auto db, Db::Open(options.data_directory / "index.sqlite"));
  {
    TSUNAGU_ASSIGN_OR_RETURN(internal::Stmt attach, db->Prepare("ATTACH DATABASE ?1 AS keys"));
    attach.Bind(1, (options.key_directory / "keys.sqlite").string());
    TSUNAGU_RETURN_IF_ERROR(attach.Run());
  }
  auto store =
      std::make_unique<SqliteStudyStore>(std::move(options), std::move(deps), std::move(db));
  TSUNAGU_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<StudyStore>(std::move(store));
}

}  // namespace tsunagu::retention
