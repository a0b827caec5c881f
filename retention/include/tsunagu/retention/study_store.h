// StudyStore: the relay's encrypted study store, its SQLite index, expiry, crypto-shredding,
// deletion receipts, viewer links and the access log.
//
// Layout under the data directory:
//   index.sqlite (+ -wal, -shm)   studies, instances, uploads, links, receipts, access log
//                                 (WAL mode, secure_delete on)
// and under the key directory (StoreOptions::key_directory):
//   keys.sqlite (+ -wal, -shm)    the per-study keys (attached to the index connection)
//   studies/<h(study)>/<h(sop)>.enc    finished instance, encrypted
//   studies/<h(study)>/<h(sop)>.part   upload in progress, encrypted
//   studies/<h(study)>/derived/<h(name)>.enc   derived data (the viewer's renders and summary),
//                                              encrypted with the study's key
// where h() is a truncated SHA-256, so no UID and no client-chosen text becomes a path.
//
// Every study has its own random 256-bit key. A file is a sequence of records, one per uploaded
// chunk: u32 plaintext length (big endian), 12-byte random nonce, AES-256-GCM ciphertext,
// 16-byte tag; the additional data binds a record to its study, instance and position.
//
// Deleting a study (Purge) destroys its key first (a committed SQLite transaction, with
// secure_delete and a WAL checkpoint so the key bytes leave the database files), then its files,
// then records a DeletionReceipt. Ciphertext copied before the purge cannot be decrypted after it.
//
// Time is read only through the injected Clock. A study is reachable only while committed and
// before its expiry: an expired study is refused from that instant, before any purge runs.
//
// Thread-safety: all methods may be called concurrently; the SQLite connection is serialised
// by an internal mutex and file reads happen outside it. Several processes (the service and the
// `purge`, `revoke`, `audit` commands) may open the same directory.
#ifndef TSUNAGU_RETENTION_STUDY_STORE_H_
#define TSUNAGU_RETENTION_STUDY_STORE_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/result.h"
#include "tsunagu/common/sqlite_schema.h"
#include "tsunagu/common/status.h"

namespace spdlog {
class logger;
}

namespace tsunagu::retention {

using TimePoint = std::chrono::system_clock::time_point;

// What the relay learnt about an instance when it checked it (see InstanceValidator).
struct InstanceInfo {
  std::string series_uid;
  std::string metadata_json;  // DICOM JSON model of the instance without bulk data
};

// Checks a complete instance before it is accepted into a study. Returns its InstanceInfo, or a
// non-OK status (kDeidentificationRefused, kInvalidArgument) that rejects it.
using InstanceValidator = std::function<common::Result<InstanceInfo>(
    std::string_view study_uid, std::string_view sop_uid, std::string_view bytes)>;

struct StoreOptions {
  std::filesystem::path data_directory;
  // Where the per-study keys live (keys.sqlite). Keep it on a volume that is not backed up or
  // snapshotted with the data directory: crypto-shredding makes a copy of the data directory
  // unreadable only if the copy does not also hold the keys. Empty: <data_directory>/keys.
  std::filesystem::path key_directory;
  std::uint64_t quota_bytes = 100ULL << 30;
  std::chrono::milliseconds retention = std::chrono::hours(72);
  int access_code_max_failures = 5;
  // After a wrong access code, further attempts on that link are refused for this long.
  std::chrono::milliseconds access_code_delay = std::chrono::seconds(1);
  // Derived data (PutDerived) held per study, on top of the quota.
  std::uint64_t derived_bytes_per_study = 256ULL << 20;
};

struct StoreDeps {
  std::shared_ptr<common::Clock> clock;    // required
  std::shared_ptr<spdlog::logger> logger;  // required
};

struct UploadProgress {
  std::uint64_t received = 0;  // bytes held, from offset 0
  std::uint64_t size = 0;      // the instance's declared size (0 when unknown)
  bool complete = false;       // whole instance held, hash verified and checked
};

struct CommitOutcome {
  TimePoint expires_at;
  bool already_committed = false;
  std::string link_token;  // the new link's token (base64url); the store keeps only its hash
};

struct CommitInstance {
  std::string sop_uid;
  std::string sha256_hex;
  std::uint64_t size = 0;
};

struct StoredInstance {
  std::string sop_uid;
  std::string series_uid;
  std::uint64_t size = 0;
  std::string metadata_json;  // decrypted
};

struct ReachableStudy {
  std::string study_uid;
  TimePoint expires_at;
  std::int64_t link_id = 0;
};

struct DeletionReceipt {
  std::string study_uid;
  TimePoint deleted_at;
  std::uint64_t instance_count = 0;
  std::string reason;  // "expired" or "abandoned"
};

struct AccessEntry {
  TimePoint time;
  std::int64_t link_id = 0;
  std::string event;  // "open", "metadata", "instance", "frames", "denied_code", ...
  std::string client_address;
  std::string user_agent;
};

// The messages of ResolveLink's errors, stable so that the web viewer can tell a link's states
// apart (expired 410, revoked 403, locked 423) while the codes stay those documented below.
inline constexpr std::string_view kLinkUnknown = "unknown link";
inline constexpr std::string_view kLinkExpired = "the link has expired";
inline constexpr std::string_view kLinkRevoked = "the link was revoked";
inline constexpr std::string_view kLinkLocked =
    "the link is locked after too many wrong access codes";

// Schema versions of the index (data_directory/index.sqlite), applied by Open and used by
// `tsunagu-relay backup|restore`. The key store (keys.sqlite) has its own and is never backed up.
const common::Schema& StudyIndexSchema();
// The index's file name inside StoreOptions::data_directory.
inline constexpr std::string_view kIndexFileName = "index.sqlite";

class StudyStore {
 public:
  // Opens (creating if needed) the store in options.data_directory. kInvalidArgument for an
  // empty directory name, kPermissionDenied / kInternal when it cannot be created or opened.
  static common::Result<std::unique_ptr<StudyStore>> Open(StoreOptions options, StoreDeps deps);
  virtual ~StudyStore() = default;

  // ---- Upload side ----

  // How much of an instance the store holds. Never fails for an unknown instance (received 0).
  virtual common::Result<UploadProgress> GetProgress(const std::string& study_uid,
                                                     const std::string& sop_uid) = 0;

  // Appends `chunk`, which starts at byte `offset` of an instance of `total_size` bytes whose
  // SHA-256 is `sha256_hex`. Idempotent: a chunk that ends at or before what is held is a no-op.
  // kFailedPrecondition (with the current progress in the message) when `offset` is past what
  // is held; kDiskFull (retryable) when the quota would be exceeded; kAlreadyExists when the
  // study is committed and this instance is not part of it; kInvalidArgument when size or hash
  // differ from an earlier chunk of the same upload. When the last byte arrives the whole
  // instance is hash-checked (kIntegrity: the upload is discarded) and passed to `validator`
  // (its error discards the upload too).
  virtual common::Result<UploadProgress> AppendChunk(const std::string& study_uid,
                                                     const std::string& sop_uid,
                                                     std::uint64_t offset, std::uint64_t total_size,
                                                     const std::string& sha256_hex,
                                                     std::string_view chunk,
                                                     const InstanceValidator& validator) = 0;

  // Atomically makes the study visible with exactly `instances`, expiring `retention` from now
  // (capped by the configured retention), and mints a link. Repeating a successful commit with
  // the same instances answers already_committed and a fresh link. kFailedPrecondition when an
  // instance is missing or differs; kAlreadyExists for a different list after a commit; kNotFound
  // when the study expired or was deleted.
  virtual common::Result<CommitOutcome> Commit(
      const std::string& study_uid, const std::vector<CommitInstance>& instances,
      const std::string& thread, const std::optional<std::string>& access_code,
      std::optional<std::chrono::milliseconds> retention) = 0;

  // ---- Links ----

  // The study a link opens, if the link is known, not revoked, not locked and the study is
  // reachable now. kNotFound for an unknown token or an unreachable study (expired, deleted);
  // kPermissionDenied for a revoked or locked link; kUnauthenticated when the link needs an
  // access code and `access_code` is absent or wrong (a wrong one counts as a failure);
  // kResourceExhausted when a code is tried again within access_code_delay of a failure.
  virtual common::Result<ReachableStudy> ResolveLink(
      std::string_view token, const std::optional<std::string>& access_code) = 0;

  // Revokes every link of a study; returns how many were revoked.
  virtual common::Result<int> RevokeLinks(const std::string& study_uid) = 0;

  // ---- Reading a reachable study ----

  virtual common::Result<std::vector<StoredInstance>> ListInstances(
      const std::string& study_uid) = 0;
  // The decrypted bytes of one instance. kNotFound when the study is unreachable or has no such
  // instance; kDataLoss when decryption fails.
  virtual common::Result<std::string> ReadInstance(const std::string& study_uid,
                                                   const std::string& sop_uid) = 0;

  // ---- Derived data of a study (the web viewer's renders and summary) ----

  // Stores `bytes` as `name` with the study, encrypted with the study's key (AES-256-GCM, bound
  // to study and name), replacing an earlier value. It lives in the study's directory, so it is
  // unreadable from the moment Purge destroys the key and removed with the study's files. Not
  // counted against the quota, but at most StoreOptions::derived_bytes_per_study per study.
  // kNotFound when the study is unreachable; kResourceExhausted when the study's allowance is
  // used up; kDiskFull when the disk is nearly full.
  virtual common::Status PutDerived(const std::string& study_uid, std::string_view name,
                                    std::string_view bytes) = 0;
  // The bytes stored as `name`. kNotFound when there are none or the study is unreachable;
  // kDataLoss when the file does not decrypt.
  virtual common::Result<std::string> GetDerived(const std::string& study_uid,
                                                 std::string_view name) = 0;

  // ---- Retention ----

  // Deletes every expired study and every upload abandoned longer than the retention period:
  // key first, then files, then a receipt. Returns the receipts written.
  virtual common::Result<std::vector<DeletionReceipt>> Purge() = 0;
  virtual common::Result<DeletionReceipt> GetReceipt(const std::string& study_uid) = 0;
  // Bytes of encrypted files held (finished and in progress), as counted against the quota.
  virtual common::Result<std::uint64_t> UsedBytes() = 0;

  // ---- Access log ----

  // Appends entries (study UID, entry) in one transaction.
  virtual common::Status RecordAccess(
      const std::vector<std::pair<std::string, AccessEntry>>& entries) = 0;
  virtual common::Result<std::vector<AccessEntry>> AccessLog(const std::string& study_uid) = 0;

  // The raw key of a study, for the crypto-shredding test only. kNotFound once destroyed.
  virtual common::Result<std::string> StudyKeyForTest(const std::string& study_uid) = 0;
};

// Decrypts an instance file written by a StudyStore with `key`; kDataLoss if any record fails
// authentication. Public so that tests and tools can show a copy is unreadable without its key.
common::Result<std::string> DecryptInstanceFile(std::string_view key, std::string_view study_uid,
                                                std::string_view sop_uid,
                                                std::string_view file_bytes);

}  // namespace tsunagu::retention

#endif  // TSUNAGU_RETENTION_STUDY_STORE_H_
