// The study pipeline: the gateway-specific jobs run by the generic engine, the narrow interfaces
// of the stages after the spool (de-identification, upload, link posting), the intake of
// received instances, and the spool ceiling.
//
//   retrieving / collecting -> received -> deidentified -> uploaded -> committed -> posted
//     -> cleaned
//
// Every step is idempotent: it is safe to run again after a crash at any point. The relay's
// upload and commit are idempotent (same SOP UID, same bytes), the de-identified output is
// written atomically under its new SOP UID, and the link poster is given the job id as its
// idempotency key.
#ifndef TSUNAGU_GATEWAY_PIPELINE_H_
#define TSUNAGU_GATEWAY_PIPELINE_H_

#include <spdlog/logger.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/file_system.h"
#include "tsunagu/common/language.h"
#include "tsunagu/gateway/dicom_node.h"
#include "tsunagu/gateway/job_store.h"
#include "tsunagu/gateway/pacs_client.h"
#include "tsunagu/jobs/job_engine.h"

namespace tsunagu::chat {
class ChatMetrics;
}  // namespace tsunagu::chat

namespace tsunagu::gateway {

class InstanceStream;
class SpoolJanitor;

// What the de-identifier made of one instance.
struct DeidentifiedInstance {
  std::string sop_uid;    // new
  std::string study_uid;  // new
  std::filesystem::path file;
  std::string patient_id_suffix;
  std::string modality;
  // For the chat card (de-identified values) and the per-patient route (an HMAC, see
  // CardFacts::patient_key).
  std::string body_part;
  std::string study_description;
  std::string study_date;
  std::string study_time;
  // JoinPatientKeys(): the key under the current site secret, then those under retired ones.
  std::string patient_key;
};

// A patient's route keys travel as one string through the pipeline and the job store
// (DeidentifiedInstance / CardFacts / LinkPost::patient_key): the key under the current site
// secret, then a ',' and the key under each retired secret (site-secret rotation). Hex keys never
// contain ','. SplitPatientKeys of "" is {""}; of anything else, at least one key.
std::string JoinPatientKeys(const std::string& current, const std::vector<std::string>& previous);
std::vector<std::string> SplitPatientKeys(std::string_view joined);

// De-identifies one spooled instance (the anonymizer behind an interface). Errors:
// kDeidentificationRefused (not retryable) when the instance may not leave the hospital.
class InstanceDeidentifier {
 public:
  virtual ~InstanceDeidentifier() = default;
  // Writes `output_dir`/<new SOP UID>.dcm atomically; repeatable with the same result.
  virtual common::Result<DeidentifiedInstance> Deidentify(
      const std::filesystem::path& input, const std::filesystem::path& output_dir) = 0;
};

struct UploadedInstance {
  std::string sop_uid;  // de-identified
  std::string sha256_hex;
  std::int64_t size = 0;
};

struct CommitOutcome {
  std::string viewer_url;
  std::string expires_at;
  bool already_committed = false;
};

// The relay, as the pipeline needs it. Both calls must be idempotent at the relay.
class StudyUploader {
 public:
  virtual ~StudyUploader() = default;
  virtual common::Status Upload(const std::string& study_uid, const std::string& sop_uid,
                                const std::filesystem::path& file) = 0;
  // As Upload, with the SHA-256 and size recorded when the instance was de-identified, so that
  // the file need not be hashed again before it is sent (the relay still checks it). The
  // default ignores them.
  virtual common::Status UploadKnown(const std::string& study_uid, const UploadedInstance& known,
                                     const std::filesystem::path& file) {
    return Upload(study_uid, known.sop_uid, file);
  }
  // `access_code`: the code the link asks for; "" for a link without one.
  virtual common::Result<CommitOutcome> Commit(const std::string& study_uid,
                                               const std::vector<UploadedInstance>& instances,
                                               const std::string& thread,
                                               std::optional<std::chrono::milliseconds> retention,
                                               const std::string& access_code) = 0;
};

// What a chat card is made of. Never a name, full ID or birth date: every value is de-identified
// (as the anonymizer left it) except patient_key, an HMAC that only routes per-patient threads and
// is never shown or logged.
struct LinkPost {
  JobId job;
  std::string thread;
  std::string viewer_url;
  std::string expires_at;
  std::string patient_id_suffix;
  std::string modality;
  std::string note;
  int instances = 0;
  int series = 0;
  std::string body_part;
  std::string study_description;
  std::string study_date;
  std::string study_time;
  std::string deid_study_uid;  // the relay's name of the study (seen receipts)
  std::string patient_key;     // empty: no per-patient route
};

// Posts the viewer link to the thread; `post.job` is the idempotency key. The chat connectors of
// issue 9 implement this; until then LoggingLinkPoster records the link in the log.
class LinkPoster {
 public:
  virtual ~LinkPoster() = default;
  virtual common::Status Post(const LinkPost& post) = 0;

  // Post with the platform's requested delay (429 Retry-After, Matrix retry_after_ms) when it
  // refused for now; the pipeline retries no sooner. The default has no delay to give.
  struct Outcome {
    common::Status status;
    std::optional<std::chrono::milliseconds> retry_after;
  };
  virtual Outcome PostWithRetryAfter(const LinkPost& post) { return {Post(post), std::nullopt}; }
};

// `url` with its link token replaced by "<redacted>": the token in a viewer or thumbnail URL opens
// the study (a bearer credential), so logs carry the host and the kind of link only.
std::string RedactLinkToken(std::string_view url);

class LoggingLinkPoster final : public LinkPoster {
 public:
  explicit LoggingLinkPoster(std::shared_ptr<spdlog::logger> log) : log_(std::move(log)) {}
  common::Status Post(const LinkPost& post) override;

 private:
  std::shared_ptr<spdlog::logger> log_;
};

// Keys for file names and logs: HMAC-SHA-256 of a UID under the spool key, hex, 32 characters.
class UidKeyer {
 public:
  explicit UidKeyer(std::string key) : key_(std::move(key)) {}
  std::string Key(std::string_view uid) const;

 private:
  std::string key_;
};

// After JobStore::Cancel: deletes the job's spool files that no other job still needs (the same
// study pushed to a second thread), its de-identified files and its outbox folder
// (`outbox_dir`/<job id>), then forgets its identifiers. Shared by `tsunagu-gateway cancel` and
// the worker that stops a job cancelled while it ran.
struct CancelCleanup {
  int deleted = 0;  // files deleted
  int kept = 0;     // spool files another job still needs
};
common::Result<CancelCleanup> RemoveCancelledJobFiles(JobStore& store, JobId id,
                                                      const std::vector<InstanceRecord>& instances,
                                                      const std::filesystem::path& outbox_dir);

// One site secret (rotation, docs/operations.md "Rotating the site secret"): its id, the spool
// keyer derived from it and a de-identifier mapping UIDs under it. The pipeline gets them current
// first, then the retired secrets newest first.
struct SecretGeneration {
  std::string id;  // SecretGenerationId(secret): safe to log and store
  const UidKeyer* keyer = nullptr;
  InstanceDeidentifier* deidentifier = nullptr;
};
// 16 hex characters of HMAC-SHA-256(secret, "tsunagu site secret id v1"): names a secret without
// revealing it.
std::string SecretGenerationId(std::string_view secret);

// Chooses the thread of a pushed instance from the configured rules; first match wins.
struct Route {
  std::string thread;
  std::string called_ae_title;
  std::string calling_ae_title;
  std::string modality;
  std::string institution_department;
};
std::optional<std::string> ChooseThread(const std::vector<Route>& routes,
                                        const ReceivedInstance& instance);

// Counters for /metrics. Thread-safe.
struct PipelineMetrics {
  std::atomic<std::uint64_t> instances_spooled{0};
  std::atomic<std::uint64_t> bytes_spooled{0};
  std::atomic<std::uint64_t> intake_refused_disk_full{0};
  std::atomic<std::uint64_t> intake_refused_no_route{0};
  std::atomic<std::uint64_t> instances_deidentified{0};
  std::atomic<std::uint64_t> instances_uploaded{0};
  std::atomic<std::uint64_t> studies_committed{0};
  std::atomic<std::uint64_t> links_posted{0};
  std::atomic<std::uint64_t> spool_files_expired{0};
  // IPsec child SA to the relay: 1 up, 0 down, -1 not checked (require_ipsec = false).
  std::atomic<int> ipsec_tunnel_up{-1};
  // The chat connectors' and card follow-up's counters (issue 9); null without chat. Set before
  // the web server starts; outlives it.
  const chat::ChatMetrics* chat = nullptr;
};

// Takes instances from the DICOM node into the spool and the job store:
// spool/<study key>/<sop key>.dcm, renamed into place before the C-STORE is answered.
//
// Durability, by who can send an instance again:
//  - Pushed (a modality, the PACS's "send to"): the sender forgets the instance once it has our
//    success status, so before answering, the file is fsynced, renamed, its directory fsynced and
//    its job row committed with synchronous=FULL. Per instance; batching would mean holding
//    the response, which is the sender's throughput.
//  - Retrieved by a send: the PACS still holds it, and the job fetches again whatever it lacks.
//    The file is only renamed and its row committed without waiting for the disk. A kill -9
//    loses neither (the page cache and the WAL outlive the process). A power cut may lose the
//    file or the row: a lost row is "expected" again and is re-requested by the next C-MOVE; a
//    row whose file is gone makes the de-identify step send the job back to retrieving
//    (JobStore::RefetchInstances). No fsync of the received data is needed for that promise.
//    (Not covered: a file a power cut left truncated under its final name is not recognised as
//    lost; its de-identification fails, and the job with it, which can then be sent again.)
//  - De-identified outputs are written by the anonymizer with fsync + rename + directory fsync
//    before their row is recorded: their rows carry the SHA-256 uploaded and committed, and a
//    later durable commit of the job store makes those rows durable too.
class Intake final : public StoreHandler {
 public:
  struct Deps {
    JobStore* store;
    common::FileSystem* fs;
    const UidKeyer* keyer;
    PipelineMetrics* metrics;
    std::shared_ptr<spdlog::logger> log;
    std::function<void()> on_new_work;  // wakes the engine; may be empty
  };
  Intake(std::filesystem::path spool_dir, std::uint64_t min_free_bytes, std::vector<Route> routes,
         Deps deps);
  common::Status CheckCanReceive() override;
  common::Status OnReceived(const ReceivedInstance& instance) override;

 private:
  std::filesystem::path spool_dir_;
  std::uint64_t min_free_bytes_;
  std::vector<Route> routes_;
  Deps deps_;
};

struct PipelineOptions {
  std::string own_ae_title;  // C-MOVE destination
  std::chrono::milliseconds move_deadline = std::chrono::minutes(30);
  int max_move_retries = 3;  // re-requests of missing instances
  std::chrono::milliseconds quiet_period = std::chrono::seconds(30);
  // After a C-MOVE's final response, how long to wait for late C-STOREs before re-requesting.
  std::chrono::milliseconds settle_time = std::chrono::seconds(2);
  std::filesystem::path outbox_dir;  // de-identified files, per job
  std::filesystem::path spool_dir;
  std::chrono::milliseconds spool_max_age = std::chrono::hours(24);
  // Instances de-identified / uploaded at once (the anonymizer and the relay client are
  // thread-safe); results are recorded in batches of `batch_size` per transaction.
  int parallelism = 4;
  int batch_size = 16;
  // Instances uploaded at once (the upload step and the stream's upload workers); the uploader
  // holds as many keep-alive connections ([relay] upload_connections).
  int upload_connections = 4;
  // Overlap the stages: de-identify each instance as soon as the C-MOVE (or a push) has put it in
  // the spool, and upload each one as soon as its de-identification is recorded, instead of
  // de-identifying only after the whole study has arrived. The job store stays the record of
  // every instance's state, so a crash loses only work in flight. Instances of a study that
  // later fails may then already be at the relay uncommitted; they are de-identified, and the
  // relay deletes them as abandoned (relay/PROTOCOL.md, receipts).
  bool stream = true;
  // Per-thread retention overrides sent with the commit.
  std::map<std::string, std::chrono::milliseconds> thread_retention;
  // Threads whose links ask for an access code (access_code_required): the commit makes one per
  // job (6 random digits), sent to the relay with the commit and shown only to the sender.
  std::set<std::string> access_code_threads;
};

// A fresh access code for a link: six random decimal digits (what the relay's code page asks for).
common::Result<std::string> NewAccessCode();

// How long the job engine should lease a study job. The retrieve step holds its lease for up to
// the C-MOVE deadline and then finishes the streamed de-identification and uploads; a lease that
// ran out before that would let another worker take the same job while the first still works on
// it. The extra 15 minutes cover the streamed work left when the move ends. Leases of a gateway
// that stopped are released when it starts again, so a long lease does not delay recovery.
std::chrono::milliseconds JobLeaseFor(const PipelineOptions& options);

// The JobRunner of study jobs. Uses the PACS only for sends and for reconciling pushed studies
// (`pacs` may be null for a push-only gateway).
class StudyPipeline final : public jobs::JobRunner {
 public:
  struct Deps {
    JobStore* store;
    PacsClient* pacs;  // may be null
    InstanceDeidentifier* deidentifier;
    StudyUploader* uploader;
    LinkPoster* poster;
    common::FileSystem* fs;
    common::Clock* clock;
    PipelineMetrics* metrics;
    const UidKeyer* keyer;
    std::shared_ptr<spdlog::logger> log;
    // Site secrets, current first (see SecretGeneration). Empty: `deidentifier` for every job.
    // Otherwise a job's instances are de-identified under the secret of the study's first job
    // still retained (so a study sent again keeps its UIDs), else the current one; `keyer` and
    // `deidentifier` should be the current secret's.
    std::vector<SecretGeneration> generations = {};
  };
  StudyPipeline(PipelineOptions options, Deps deps);
  // Waits for a spool deletion in progress (bounded by its file count); queued ones are left to
  // the clean step after a restart.
  ~StudyPipeline() override;

  // At start, after a rotation: records for every unfinished job the secret its UIDs are mapped
  // under, then moves its study and SOP keys to the current spool key (so that instances the
  // PACS sends again still join it). Returns how many jobs were moved.
  common::Result<int> AdoptCurrentSecret();

  jobs::StepResult RunStep(const jobs::Lease& lease) override;

  // New instances are in the spool (called by the intake): wakes the streams of running steps.
  // Thread-safe; cheap when no stream runs.
  void NotifyArrival();

  // Waits (at most a minute) until no committed job's spool deletion is queued or running. The
  // deletion starts at the commit and runs beside the rest of the job.
  void WaitForSpoolDeletionsForTest();

  // Deletes spool files older than spool_max_age whatever their job's state, and fails the
  // unfinished jobs that still needed them. Returns how many files were deleted.
  common::Result<int> SweepSpool();

 private:
  jobs::StepResult Retrieve(const JobRecord& job);
  jobs::StepResult Collect(const JobRecord& job);
  jobs::StepResult Deidentify(const JobRecord& job);
  jobs::StepResult Upload(const JobRecord& job);
  jobs::StepResult Commit(const JobRecord& job);
  jobs::StepResult Post(const JobRecord& job);
  jobs::StepResult Clean(const JobRecord& job);
  common::Status DeleteSpoolFiles(const JobRecord& job);
  // The job was cancelled while this worker held it (JobStore::RequestCancel): cancel it, delete
  // its files, and end the step.
  jobs::StepResult FinishCancel(const JobRecord& job);
  // kCancelled when a cancel of `id` was requested (checked after each batch of a stage).
  common::Status CancelCheck(JobId id);
  // The secret `job`'s UIDs are mapped under (recorded on the job the first time); null without
  // generations.
  common::Result<const SecretGeneration*> GenerationFor(JobId id, const std::string& study_uid);
  common::Result<InstanceDeidentifier*> DeidentifierFor(const JobRecord& job);
  // Starts streaming `job`'s instances through de-identification and upload; null when
  // options_.stream is off or the outbox cannot be created. Registered for NotifyArrival until
  // StopStream.
  std::unique_ptr<InstanceStream> StartStream(const JobRecord& job);
  void StopStream(InstanceStream* stream);

  PipelineOptions options_;
  Deps deps_;
  std::mutex streams_mu_;
  std::set<InstanceStream*> streams_;  // GUARDED_BY(streams_mu_)
  // Deletes a committed job's spool files on its own thread, so that the link is posted without
  // waiting for them (last: its thread uses the members above).
  std::unique_ptr<SpoolJanitor> janitor_;
};

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_PIPELINE_H_
