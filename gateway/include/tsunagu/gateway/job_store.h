// The gateway's durable job store: one SQLite database (WAL, synchronous=FULL) holding the study
// jobs and their instances. It is the JobQueue of the generic engine and the record of every
// stage: received -> de-identified -> uploaded -> relay-committed -> link-posted -> cleaned.
//
// Original UIDs are stored here (the C-MOVE re-requests need them) and cleared when a job is
// cleaned; they must never be logged. Thread-safe; several processes (the service and the CLI)
// may open the same database.
#ifndef TSUNAGU_GATEWAY_JOB_STORE_H_
#define TSUNAGU_GATEWAY_JOB_STORE_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/result.h"
#include "tsunagu/common/sqlite_schema.h"
#include "tsunagu/common/strong_types.h"
#include "tsunagu/jobs/job_engine.h"

namespace tsunagu::gateway {

using common::JobId;
using std::chrono::system_clock;

// Stages, in order. "collecting" (a pushed study waiting for its quiet period) and "retrieving"
// (a send fetching from the PACS) come before "received"; "failed" is terminal, like "cleaned".
namespace stage {
inline constexpr char kCollecting[] = "collecting";
inline constexpr char kRetrieving[] = "retrieving";
inline constexpr char kReceived[] = "received";
inline constexpr char kDeidentified[] = "deidentified";
inline constexpr char kUploaded[] = "uploaded";
inline constexpr char kCommitted[] = "committed";
inline constexpr char kPosted[] = "posted";
inline constexpr char kCleaned[] = "cleaned";
inline constexpr char kFailed[] = "failed";
}  // namespace stage

enum class JobKind { kSend, kPush };

struct JobRecord {
  JobId id;
  JobKind kind = JobKind::kSend;
  std::string stage;
  std::string study_uid;  // original; empty once cleaned. Never log.
  std::string study_key;  // HMAC of the study UID: safe to log and to name spool folders
  std::string thread;
  std::string note;
  int attempts = 0;
  std::string lease_owner;
  std::int64_t lease_until_ms = 0;
  std::int64_t next_attempt_at_ms = 0;
  std::string last_error;    // "<code>: <message>", empty when none
  std::string failed_stage;  // the stage a failed job was in
  int expected_count = -1;   // instances the PACS listed; -1 before the image-level C-FIND
  int move_rounds = 0;       // C-MOVE requests issued so far
  int move_completed = 0;    // advisory counters from the last C-MOVE response
  int move_remaining = 0;
  std::string deid_study_uid;  // de-identified Study Instance UID
  std::string viewer_url;
  std::string expires_at;
  std::string patient_id_suffix;  // the retained last characters, from the de-identifier
  std::string modality;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::int64_t last_instance_at_ms = 0;
  // The link's access code (threads with access_code_required), "" otherwise. For the sender
  // only: never posted to chat, never logged.
  std::string access_code;
  friend bool operator==(const JobRecord&, const JobRecord&) = default;
};

namespace instance_state {
inline constexpr char kExpected[] = "expected";
inline constexpr char kReceived[] = "received";
inline constexpr char kDeidentified[] = "deidentified";
inline constexpr char kUploaded[] = "uploaded";
}  // namespace instance_state

struct InstanceRecord {
  JobId job_id;
  std::string sop_key;     // HMAC of the SOP Instance UID
  std::string sop_uid;     // original; empty once cleaned. Never log.
  std::string series_uid;  // original series (for instance-level C-MOVE); empty once cleaned
  std::string state;
  std::string spool_path;  // identified file; empty once deleted
  std::string deid_sop_uid;
  std::string deid_path;
  std::string sha256_hex;
  std::int64_t size = 0;
  friend bool operator==(const InstanceRecord&, const InstanceRecord&) = default;
};

// What the chat card of a job shows beyond the job's columns (issue 9): de-identified values from
// the anonymizer's output, and the HMAC key that routes per-patient threads. Kept in their own
// table so the jobs table stays as it is.
struct CardFacts {
  // chat::PatientKey of the original Patient ID and issuer (an HMAC under the site secret, never
  // the ID); empty once the job is cleaned or when the instance had no Patient ID. Never log.
  std::string patient_key;
  std::string body_part;
  std::string study_description;  // as cleaned by the anonymizer
  std::string study_date;         // DA, as the anonymizer kept it
  std::string study_time;         // TM
  friend bool operator==(const CardFacts&, const CardFacts&) = default;
};

// Counts of a job's instances by state, for progress bars.
struct JobProgress {
  int expected = 0;      // rows in "expected" state (listed by the PACS, not yet received)
  int received = 0;      // received or further
  int deidentified = 0;  // de-identified or further
  int uploaded = 0;
  int total = 0;
};

// What the DICOM node records for an instance it has written to the spool.
struct ArrivedInstance {
  std::string study_uid;
  std::string study_key;
  std::string sop_uid;
  std::string sop_key;
  std::string series_uid;
  std::string spool_path;
  std::string modality;
};

// Where an arrived instance went.
struct Attachment {
  JobId job_id;
  bool duplicate = false;  // the job already had it; the new file is not needed
  bool created_job = false;
  bool file_referenced = true;  // false: no job refers to the spool file; the caller deletes it
};

// The job store's schema versions (applied by Open; used by backup and restore).
const common::Schema& JobStoreSchema();

// For `doctor` (read-only, safe while the service runs): when a job last used the site secret
// `generation` (updated_at of the newest job recorded with it, ms since the epoch); nullopt when
// none did or the database predates the column.
common::Result<std::optional<std::int64_t>> LastUseOfSecret(const std::filesystem::path& db_path,
                                                            const std::string& generation);

class JobStore final : public jobs::JobQueue {
 public:
  // Opens (creating when missing) the database at `path`; ":memory:" for tests.
  static common::Result<std::unique_ptr<JobStore>> Open(const std::string& path,
                                                        common::Clock* clock);
  ~JobStore() override;

  // Queues a send of the study `study_uid` to `thread`. When an unfinished send of the same study
  // to the same thread exists, returns that job instead (a repeated send is not a second send).
  common::Result<JobId> CreateSend(const std::string& study_uid, const std::string& study_key,
                                   const std::string& thread, const std::string& note);

  // Records an instance the DICOM node wrote to the spool. It joins the retrieving send of its
  // study when there is one; otherwise the collecting push job of its study for `push_thread`,
  // creating it; with no push thread (no route matched) kNotFound. A SOP instance the job already
  // has is a duplicate.
  // `durable` false commits without waiting for the disk (synchronous=NORMAL on a second
  // connection): for instances a send can fetch again, where a row lost in a power cut only means
  // the completeness check re-requests the instance.
  common::Result<Attachment> AttachArrived(const ArrivedInstance& instance,
                                           const std::optional<std::string>& push_thread,
                                           bool durable = true);

  // Whether a send is retrieving the study `study_key` from the PACS.
  common::Result<bool> IsRetrieving(const std::string& study_key);

  common::Result<JobRecord> GetJob(JobId id);
  // Newest first; at most `limit`.
  common::Result<std::vector<JobRecord>> ListJobs(int limit);
  common::Result<std::vector<InstanceRecord>> ListInstances(JobId id);
  // The job's instances in state `a` or `b` (the streamed pipeline's work; cheaper than
  // ListInstances when most instances are still expected or already uploaded).
  common::Result<std::vector<InstanceRecord>> ListInstancesInStates(JobId id, const std::string& a,
                                                                    const std::string& b);
  common::Result<JobProgress> Progress(JobId id);
  // Number of jobs per stage.
  common::Result<std::vector<std::pair<std::string, int>>> CountByStage();

  // Stage updates used by the pipeline. Each is one transaction.
  common::Status SetStage(JobId id, const std::string& stage);
  common::Status SetExpected(JobId id, const std::vector<InstanceRecord>& expected);
  common::Status SetMoveCounters(JobId id, int rounds, int completed, int remaining);
  common::Status SetDeidentified(JobId id, const std::string& sop_key,
                                 const std::string& deid_sop_uid, const std::string& deid_path,
                                 const std::string& sha256_hex, std::int64_t size);
  struct DeidentifiedUpdate {
    std::string sop_key;
    std::string deid_sop_uid;
    std::string deid_path;
    std::string sha256_hex;
    std::int64_t size = 0;
  };
  // Several SetDeidentified / SetUploaded in one transaction (one fsync instead of many).
  // `durable` false commits without waiting for the disk, as for AttachArrived: a row lost in a
  // power cut only means the instance is de-identified (same output) or uploaded (idempotent at
  // the relay) again; the next durable commit (e.g. the stage change) syncs these rows too, since
  // both connections append to the same write-ahead log.
  common::Status SetDeidentifiedMany(JobId id, const std::vector<DeidentifiedUpdate>& updates,
                                     bool durable = true);
  common::Status SetUploadedMany(JobId id, const std::vector<std::string>& sop_keys,
                                 bool durable = true);
  // With `facts`, the card facts are written in the same transaction, so a crash can never leave
  // the study info (which says "already recorded") without the facts and the route key.
  common::Status SetStudyInfo(JobId id, const std::string& deid_study_uid,
                              const std::string& patient_id_suffix, const std::string& modality,
                              const CardFacts* facts = nullptr);
  // The card facts of the job, replacing any stored before (a repeated de-identification gives
  // the same values). GetCardFacts answers empty facts for a job that has none.
  common::Status SetCardFacts(JobId id, const CardFacts& facts);
  common::Result<CardFacts> GetCardFacts(JobId id);
  common::Status SetUploaded(JobId id, const std::string& sop_key);
  common::Status SetCommitted(JobId id, const std::string& viewer_url,
                              const std::string& expires_at);
  // The access code the job's link is committed with (threads with access_code_required).
  common::Status SetAccessCode(JobId id, const std::string& code);
  // Marks every uploaded instance of the job de-identified again and moves the job back to the
  // deidentified stage (the relay lost an upload; uploads are idempotent, so they are repeated).
  common::Status RestartUploads(JobId id);
  // Puts received instances back to "expected" and the job back to "retrieving" (their spool
  // files were lost, e.g. by a power cut; the retrieve step fetches them again).
  common::Status RefetchInstances(JobId id, const std::vector<std::string>& sop_keys);
  // Forgets the spool file of one instance (after it was deleted).
  common::Status ClearSpoolPath(JobId id, const std::string& sop_key);
  // The same for several instances, in one transaction.
  common::Status ClearSpoolPaths(JobId id, const std::vector<std::string>& sop_keys);
  // Whether a job other than `id` that has not yet de-identified still needs `spool_path`.
  common::Result<bool> OtherJobNeedsSpoolFile(JobId id, const std::string& spool_path);
  // Ids of unfinished jobs (before de-identification) that refer to `spool_path`.
  common::Result<std::vector<JobId>> JobsNeedingSpoolFile(const std::string& spool_path);
  // Clears every original UID and path of the job, and its patient key (the cleaned stage).
  common::Status ForgetIdentifiers(JobId id);

  // Site-secret rotation (docs/operations.md). The id of the site secret the job's UIDs are
  // mapped under, "" until the pipeline chose one (and for jobs from before rotation existed).
  common::Result<std::string> GetSecretGeneration(JobId id);
  common::Status SetSecretGeneration(JobId id, const std::string& generation);
  // Records `generation` on every job that has none (at start with a single secret: every job so
  // far used it). Returns how many jobs were updated.
  common::Result<int> BackfillSecretGeneration(const std::string& generation);
  // The oldest job whose study_key is one of `study_keys` (the study's key under each retained
  // secret): the first send of the study, whose secret later sends keep. nullopt when none.
  struct StudyOrigin {
    JobId job;
    std::string study_key;          // the key that matched
    std::string secret_generation;  // as recorded on that job; may be ""
  };
  common::Result<std::optional<StudyOrigin>> FirstJobOfStudy(
      const std::vector<std::string>& study_keys);
  // Jobs not cleaned or failed that still hold their original study UID (at start, to move
  // them to the current spool key after a rotation).
  struct UnfinishedJob {
    JobId id;
    std::string study_uid;  // original. Never log.
    std::string study_key;
    std::string secret_generation;
  };
  common::Result<std::vector<UnfinishedJob>> ListUnfinishedWithUids();
  // Replaces the job's study key and its instances' SOP keys (from -> to), in one transaction.
  common::Status RekeyJob(JobId id, const std::string& study_key,
                          const std::vector<std::pair<std::string, std::string>>& sop_keys);

  // Drops the leases held by `owner` (a restarted service reclaims its own jobs at once instead
  // of waiting for the leases to expire). Returns how many were dropped.
  common::Result<int> ReleaseLeasesOf(const std::string& owner);
  // Failed jobs per error code (the part of last_error before ':').
  common::Result<std::vector<std::pair<std::string, int>>> CountFailuresByCode();

  // Operator commands (`tsunagu-gateway retry JOB` / `cancel JOB`, issue 11).
  //
  // Puts a failed job back in the stage it failed in (failed_stage) with its error cleared, its
  // attempts reset and due now: the step that failed runs again and the work of the stages
  // before it (received, de-identified, uploaded instances) is kept. kNotFound for an unknown
  // job; kFailedPrecondition when the job is not failed, was cancelled, or its identifiers are
  // already forgotten (nothing to retry from).
  common::Status RetryFailed(JobId id);
  // Ends a job whose link is not posted yet, in one transaction: the job becomes "cleaned" with
  // last_error "cancelled: ..." (failed_stage keeps the stage it was in), so no worker claims it
  // again and no link is ever posted for it. Returns the job's instances as they were: deleting
  // their spool and outbox files is the caller's job (then ForgetIdentifiers). kUnavailable
  // (retryable) while a worker holds the job's lease at `now`; kFailedPrecondition when its link
  // was posted or the job was cleaned or cancelled before; kNotFound for an unknown job.
  // `by_lease_holder`: the worker holding the lease cancels (after RequestCancel); no lease check.
  common::Result<std::vector<InstanceRecord>> Cancel(JobId id, system_clock::time_point now,
                                                     bool by_lease_holder = false);
  // For a job a worker holds (Cancel answered kUnavailable): marks it cancel-requested. The worker
  // checks between stages and between the instances of a C-MOVE, then cancels it itself (Cancel
  // with by_lease_holder, its files deleted). kFailedPrecondition / kNotFound as for Cancel.
  common::Status RequestCancel(JobId id);
  common::Result<bool> IsCancelRequested(JobId id);

  // JobQueue.
  common::Result<std::optional<jobs::Lease>> Claim(const std::string& owner,
                                                   system_clock::time_point now,
                                                   jobs::milliseconds lease_for) override;
  common::Status Release(const jobs::Lease& lease, system_clock::time_point next_attempt_at,
                         bool reset_attempts, const common::Status& error) override;
  common::Status Fail(const jobs::Lease& lease, const common::Status& why) override;

 private:
  struct Impl;
  JobStore(std::unique_ptr<Impl> impl, std::unique_ptr<Impl> fast);
  // Sets one text column of one job (`sql`: "UPDATE jobs SET <column> = ? WHERE id = ?");
  // kNotFound when there is no such job.
  common::Status SetJobText(JobId id, const char* sql, const std::string& value);
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Impl> fast_;  // same database, synchronous=NORMAL; null for ":memory:"
};

std::string_view JobKindName(JobKind kind);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_JOB_STORE_H_
