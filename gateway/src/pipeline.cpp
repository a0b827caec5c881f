#include "tsunagu/gateway/pipeline.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <thread>

#include "instance_stream.h"
#include "tsunagu/common/crypto.h"

namespace tsunagu::gateway {

using common::Result;
using common::Status;
using jobs::StepResult;
namespace fs = std::filesystem;

namespace {

Status SyncFile(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return common::StatusFromErrno(errno, "open received file");
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return common::StatusFromErrno(err, "fsync received file");
  return Status();
}

// Runs fn(i) for i in [0, n) on up to `workers` threads, in batches of `batch`; after each batch
// `flush(batch indices)` records the batch (serialised). Stops at the first error and returns it.
Status ParallelBatches(size_t n, int workers, int batch, const std::function<Status(size_t)>& fn,
                       const std::function<Status(const std::vector<size_t>&)>& flush) {
  std::mutex mu;
  size_t next = 0;
  Status first_error;
  auto worker = [&] {
    for (;;) {
      size_t begin;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error.ok() || next >= n) return;
        begin = next;
        next = std::min(n, next + static_cast<size_t>(batch));
      }
      const size_t end = std::min(n, begin + static_cast<size_t>(batch));
      std::vector<size_t> done;
      Status st;
      for (size_t i = begin; i < end && st.ok(); ++i) {
        st = fn(i);
        if (st.ok()) done.push_back(i);
      }
      std::lock_guard<std::mutex> lock(mu);
      Status recorded = done.empty() ? Status() : flush(done);
      if (first_error.ok() && !st.ok()) first_error = st;
      if (first_error.ok() && !recorded.ok()) first_error = recorded;
    }
  };
  std::vector<std::thread> threads;
  const int count = std::max(1, std::min<int>(workers, static_cast<int>((n + batch - 1) / batch)));
  for (int i = 1; i < count; ++i) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  return first_error;
}

bool Matches(const std::string& want, const std::string& have) {
  return want.empty() || want == have;
}

}  // namespace

std::string RedactLinkToken(std::string_view url) {
  // The token is the path segment after /v/ (viewer) or /t/ (DICOMweb): a bearer credential
  // that opens the study, so logs keep the host and the kind of link only.
  for (std::string_view marker : {"/v/", "/t/", "/thumb/"}) {
    const size_t at = url.find(marker);
    if (at == std::string_view::npos) continue;
    return std::string(url.substr(0, at + marker.size())) + "<redacted>";
  }
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string_view::npos ? 0 : scheme + 3);
  if (path == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, path)) + "/<redacted>";
}

Status LoggingLinkPoster::Post(const LinkPost& post) {
  log_->info(
      "link.ready job={} thread={} instances={} modality={} expires_at={} url={} "
      "note=\"no chat connector is configured; the link is shown by status\"",
      post.job.value(), post.thread, post.instances, post.modality, post.expires_at,
      RedactLinkToken(post.viewer_url));
  return Status();
}

Result<std::string> NewAccessCode() {
  // Six decimal digits, uniform: bytes of 250 and above are drawn again (250 = 25 * 10).
  std::string code;
  while (code.size() < 6) {
    TSUNAGU_ASSIGN_OR_RETURN(std::string bytes, common::RandomBytes(16));
    for (const char c : bytes) {
      const auto b = static_cast<unsigned char>(c);
      if (b < 250 && code.size() < 6) code.push_back(static_cast<char>('0' + b % 10));
    }
  }
  return code;
}

std::string UidKeyer::Key(std::string_view uid) const {
  return common::HexEncode(common::HmacSha256(key_, uid)).substr(0, 32);
}

std::string JoinPatientKeys(const std::string& current, const std::vector<std::string>& previous) {
  std::string out = current;
  if (current.empty()) return out;
  for (const std::string& p : previous) {
    if (!p.empty()) out += "," + p;
  }
  return out;
}

std::vector<std::string> SplitPatientKeys(std::string_view joined) {
  std::vector<std::string> out;
  for (;;) {
    const size_t comma = joined.find(',');
    out.emplace_back(joined.substr(0, comma));
    if (comma == std::string_view::npos) break;
    joined.remove_prefix(comma + 1);
  }
  return out;
}

Result<CancelCleanup> RemoveCancelledJobFiles(JobStore& store, JobId id,
                                              const std::vector<InstanceRecord>& instances,
                                              const fs::path& outbox_dir) {
  CancelCleanup out;
  for (const InstanceRecord& i : instances) {
    for (const std::string& path : {i.spool_path, i.deid_path}) {
      if (path.empty()) continue;
      if (path == i.spool_path) {
        auto needed = store.OtherJobNeedsSpoolFile(id, path);
        if (!needed.ok() || *needed) {
          ++out.kept;
          continue;
        }
      }
      std::error_code ec;
      if (fs::remove(path, ec)) ++out.deleted;
    }
  }
  std::error_code ec;
  fs::remove_all(outbox_dir / std::to_string(id.value()), ec);
  TSUNAGU_RETURN_IF_ERROR(store.ForgetIdentifiers(id));
  return out;
}

std::string SecretGenerationId(std::string_view secret) {
  return common::HexEncode(common::HmacSha256(secret, "tsunagu site secret id v1")).substr(0, 16);
}

std::optional<std::string> ChooseThread(const std::vector<Route>& routes,
                                        const ReceivedInstance& in) {
  for (const Route& r : routes) {
    if (Matches(r.called_ae_title, in.called_ae_title) &&
        Matches(r.calling_ae_title, in.calling_ae_title) && Matches(r.modality, in.modality) &&
        Matches(r.institution_department, in.institution_department)) {
      return r.thread;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Intake

Intake::Intake(fs::path spool_dir, std::uint64_t min_free_bytes, std::vector<Route> routes,
               Deps deps)
    : spool_dir_(std::move(spool_dir)),
      min_free_bytes_(min_free_bytes),
      routes_(std::move(routes)),
      deps_(std::move(deps)) {}

Status Intake::CheckCanReceive() {
  auto free = deps_.fs->FreeSpace(spool_dir_);
  if (!free.ok()) return free.status();
  if (*free < min_free_bytes_) {
    ++deps_.metrics->intake_refused_disk_full;
    return common::DiskFullError(
        "spool has " + std::to_string(*free / (1 << 20)) + " MiB free, below spool_min_free (" +
        std::to_string(min_free_bytes_ / (1 << 20)) + " MiB): intake stopped until space is freed");
  }
  return Status();
}

Status Intake::OnReceived(const ReceivedInstance& in) {
  ArrivedInstance a;
  a.study_uid = in.study_uid;
  a.study_key = deps_.keyer->Key(in.study_uid);
  a.sop_uid = in.sop_uid;
  a.sop_key = deps_.keyer->Key(in.sop_uid);
  a.series_uid = in.series_uid;
  a.modality = in.modality;
  const fs::path dir = spool_dir_ / a.study_key;
  const fs::path dest = dir / (a.sop_key + ".dcm");
  a.spool_path = dest.string();
  TSUNAGU_RETURN_IF_ERROR(deps_.fs->CreateDirectories(dir));
  // A pushed instance is acknowledged to a sender that will not send it again: it must be on
  // disk (file and directory fsynced) before the C-STORE-RSP. An instance a send is retrieving
  // can be fetched again from the PACS, so it is only renamed: a kill -9 keeps it (the page
  // cache survives the process), and a file lost in a power cut is fetched again (the
  // de-identification step sends the job back to retrieving), as is its database row (committed
  // without waiting for the disk). This saves three fsyncs per instance (see the benchmark).
  auto retrieving = deps_.store->IsRetrieving(a.study_key);
  if (!retrieving.ok()) return retrieving.status();
  if (*retrieving) {
    std::error_code ec;
    fs::rename(in.file, dest, ec);
    if (ec) return common::StatusFromErrno(ec.value(), "rename into the spool");
  } else {
    TSUNAGU_RETURN_IF_ERROR(SyncFile(in.file));
    TSUNAGU_RETURN_IF_ERROR(deps_.fs->Rename(in.file, dest));
  }
  const std::optional<std::string> thread = ChooseThread(routes_, in);
  auto attached = deps_.store->AttachArrived(a, thread, /*durable=*/!*retrieving);
  if (!attached.ok()) {
    (void)deps_.fs->Remove(dest);
    if (attached.status().code() == common::ErrorCode::kNotFound) {
      ++deps_.metrics->intake_refused_no_route;
      deps_.log->warn("route.no_match study={} called={} calling={} modality={}", a.study_key,
                      in.called_ae_title, in.calling_ae_title, in.modality);
    }
    return attached.status();
  }
  if (!attached->file_referenced) (void)deps_.fs->Remove(dest);
  ++deps_.metrics->instances_spooled;
  deps_.metrics->bytes_spooled += in.bytes;
  deps_.log->debug("intake.stored job={} study={} instance={} duplicate={}",
                   attached->job_id.value(), a.study_key, a.sop_key, attached->duplicate);
  if (attached->created_job) {
    deps_.log->info("push.started job={} study={} thread={}", attached->job_id.value(), a.study_key,
                    thread.value_or(""));
    if (deps_.on_new_work) deps_.on_new_work();
  }
  return Status();
}

// ---------------------------------------------------------------------------------------------
// StudyPipeline

namespace {

// Commits that may each name one instance the relay lost before the step gives up on re-uploading
// single instances.
constexpr int kMaxLostInstanceRounds = 8;

// The 0-based list position of the instance a 412 commit answer says the relay lost: "instance N
// of the commit was lost by the relay" (relay/PROTOCOL.md), N counted from 1. nullopt otherwise.
std::optional<size_t> LostInstancePosition(const std::string& message) {
  static constexpr std::string_view kBefore = "instance ";
  static constexpr std::string_view kAfter = " of the commit was lost by the relay";
  const size_t end = message.find(kAfter);
  if (end == std::string::npos) return std::nullopt;
  const size_t begin = message.rfind(kBefore, end);
  if (begin == std::string::npos) return std::nullopt;
  const size_t digits = begin + kBefore.size();
  if (digits >= end || end - digits > 9) return std::nullopt;
  size_t n = 0;
  for (size_t i = digits; i < end; ++i) {
    if (message[i] < '0' || message[i] > '9') return std::nullopt;
    n = n * 10 + static_cast<size_t>(message[i] - '0');
  }
  if (n == 0) return std::nullopt;
  return n - 1;
}

}  // namespace

// One thread deleting committed jobs' spool files, one job at a time. Removing a file whose
// blocks are on disk is slow on some file systems (ext4 mounted with `discard` trims each file:
// about 2.5 ms per instance, most of a second for a 300-slice CT), and nothing after the commit
// needs to wait for it. A job's deletion is queued at its commit and again at each attempt to post
// its link (which covers a restart that lost the queue); the clean step waits for it and then
// deletes whatever is left itself, so a deletion that never ran is only late, never skipped.
class SpoolJanitor {
 public:
  explicit SpoolJanitor(std::function<void(const JobRecord&)> work) : work_(std::move(work)) {}
  ~SpoolJanitor() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      queue_.clear();
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  SpoolJanitor(const SpoolJanitor&) = delete;
  SpoolJanitor& operator=(const SpoolJanitor&) = delete;

  void Enqueue(const JobRecord& job) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || busy_ == job.id) return;
    for (const JobRecord& q : queue_) {
      if (q.id == job.id) return;
    }
    queue_.push_back(job);
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    cv_.notify_all();
  }

  // Waits until `id` (every job when nullopt) is neither queued nor being deleted, for at most
  // `limit`.
  void Wait(std::optional<JobId> id, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, limit, [&] {
      if (busy_ && (!id || busy_ == id)) return false;
      for (const JobRecord& q : queue_) {
        if (!id || q.id == *id) return false;
      }
      return true;
    });
  }

 private:
  void Loop() {
    ::pthread_setname_np(::pthread_self(), "tsu-spool-clean");
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      JobRecord job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = job.id;
      lock.unlock();
      work_(job);
      lock.lock();
      busy_.reset();
      cv_.notify_all();
    }
  }

  const std::function<void(const JobRecord&)> work_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobRecord> queue_;  // GUARDED_BY(mu_)
  std::optional<JobId> busy_;    // GUARDED_BY(mu_)
  bool stop_ = false;            // GUARDED_BY(mu_)
  std::thread thread_;
};

std::chrono::milliseconds JobLeaseFor(const PipelineOptions& options) {
  return options.move_deadline + std::chrono::minutes(15);
}

StudyPipeline::StudyPipeline(PipelineOptions options, Deps deps)
    : options_(std::move(options)), deps_(std::move(deps)) {
  janitor_ = std::make_unique<SpoolJanitor>([this](const JobRecord& job) {
    const auto start = deps_.clock->SteadyNow();
    const Status st = DeleteSpoolFiles(job);
    if (!st.ok()) {
      // The clean step tries again (and fails the step if it still cannot).
      deps_.log->warn("spool.delete_failed job={} reason=\"{}\"", job.id.value(), st.message());
      return;
    }
    deps_.log->info(
        "spool.deleted job={} ms={}", job.id.value(),
        std::chrono::duration_cast<std::chrono::milliseconds>(deps_.clock->SteadyNow() - start)
            .count());
  });
}

StudyPipeline::~StudyPipeline() { janitor_.reset(); }

void StudyPipeline::WaitForSpoolDeletionsForTest() {
  janitor_->Wait(std::nullopt, std::chrono::minutes(1));
}

void StudyPipeline::NotifyArrival() {
  std::lock_guard<std::mutex> lock(streams_mu_);
  for (InstanceStream* s : streams_) s->Poke();
}

Result<const SecretGeneration*> StudyPipeline::GenerationFor(JobId id,
                                                             const std::string& study_uid) {
  const std::vector<SecretGeneration>& gens = deps_.generations;
  if (gens.empty()) return nullptr;
  auto find = [&](const std::string& gid) -> const SecretGeneration* {
    for (const SecretGeneration& g : gens) {
      if (!gid.empty() && g.id == gid) return &g;
    }
    return nullptr;
  };
  TSUNAGU_ASSIGN_OR_RETURN(std::string recorded, deps_.store->GetSecretGeneration(id));
  if (const SecretGeneration* g = find(recorded)) return g;
  const SecretGeneration* chosen = &gens.front();
  if (!study_uid.empty()) {
    // The study's first job (this one when it is the first) decides: later sends of a study keep
    // the secret its first send used, for as long as that secret is retained.
    std::vector<std::string> keys;
    for (const SecretGeneration& g : gens) keys.push_back(g.keyer->Key(study_uid));
    TSUNAGU_ASSIGN_OR_RETURN(std::optional<JobStore::StudyOrigin> origin,
                             deps_.store->FirstJobOfStudy(keys));
    if (origin) {
      if (!origin->secret_generation.empty()) {
        if (const SecretGeneration* g = find(origin->secret_generation)) chosen = g;
      } else {
        for (size_t i = 0; i < gens.size(); ++i) {
          if (keys[i] == origin->study_key) chosen = &gens[i];
        }
      }
    }
  }
  if (!recorded.empty()) {
    deps_.log->warn(
        "deidentify.secret_dropped job={} secret={} now={} effect=\"the study gets new "
        "de-identified UIDs\"",
        id.value(), recorded, chosen->id);
  } else if (chosen != &gens.front()) {
    deps_.log->info("deidentify.previous_secret job={} secret={}", id.value(), chosen->id);
  }
  TSUNAGU_RETURN_IF_ERROR(deps_.store->SetSecretGeneration(id, chosen->id));
  return chosen;
}

Result<InstanceDeidentifier*> StudyPipeline::DeidentifierFor(const JobRecord& job) {
  TSUNAGU_ASSIGN_OR_RETURN(const SecretGeneration* g, GenerationFor(job.id, job.study_uid));
  return g == nullptr ? deps_.deidentifier : g->deidentifier;
}

Result<int> StudyPipeline::AdoptCurrentSecret() {
  if (deps_.generations.empty()) return 0;
  const UidKeyer& current = *deps_.generations.front().keyer;
  TSUNAGU_ASSIGN_OR_RETURN(std::vector<JobStore::UnfinishedJob> jobs,
                           deps_.store->ListUnfinishedWithUids());
  int moved = 0;
  for (const JobStore::UnfinishedJob& j : jobs) {
    const std::string key = current.Key(j.study_uid);
    if (key == j.study_key) continue;
    // Decide (and record) the job's secret while its old key still finds its study's history.
    TSUNAGU_RETURN_IF_ERROR(GenerationFor(j.id, j.study_uid).status());
    TSUNAGU_ASSIGN_OR_RETURN(std::vector<InstanceRecord> instances,
                             deps_.store->ListInstances(j.id));
    std::vector<std::pair<std::string, std::string>> sop_keys;
    for (const InstanceRecord& r : instances) {
      if (!r.sop_uid.empty()) sop_keys.emplace_back(r.sop_key, current.Key(r.sop_uid));
    }
    TSUNAGU_RETURN_IF_ERROR(deps_.store->RekeyJob(j.id, key, sop_keys));
    deps_.log->info("jobs.rekeyed job={} study={} instances={}", j.id.value(), key,
                    sop_keys.size());
    ++moved;
  }
  return moved;
}

std::unique_ptr<InstanceStream> StudyPipeline::StartStream(const JobRecord& job) {
  if (!options_.stream) return nullptr;
  const fs::path out_dir = options_.outbox_dir / std::to_string(job.id.value());
  if (!deps_.fs->CreateDirectories(out_dir).ok()) return nullptr;  // the stage steps report it
  auto deidentifier = DeidentifierFor(job);
  if (!deidentifier.ok()) return nullptr;  // the de-identify step reports it
  Deps deps = deps_;
  deps.deidentifier = *deidentifier;
  auto stream = std::make_unique<InstanceStream>(options_, deps, job, out_dir);
  stream->Start();
  std::lock_guard<std::mutex> lock(streams_mu_);
  streams_.insert(stream.get());
  return stream;
}

void StudyPipeline::StopStream(InstanceStream* stream) {
  std::lock_guard<std::mutex> lock(streams_mu_);
  streams_.erase(stream);
}

Status StudyPipeline::CancelCheck(JobId id) {
  auto requested = deps_.store->IsCancelRequested(id);
  if (requested.ok() && *requested) return common::CancelledError("the job was cancelled");
  return Status();
}

StepResult StudyPipeline::FinishCancel(const JobRecord& job) {
  auto instances = deps_.store->Cancel(job.id, deps_.clock->SystemNow(), /*by_lease_holder=*/true);
  if (!instances.ok()) {
    // Posted meanwhile (nothing to cancel) or the store failed: the engine records it.
    return StepResult::FromStatus(instances.status());
  }
  auto cleaned = RemoveCancelledJobFiles(*deps_.store, job.id, *instances, options_.outbox_dir);
  if (!cleaned.ok()) return StepResult::FromStatus(cleaned.status());
  deps_.log->info("job.cancelled job={} stage={} deleted={} kept={}", job.id.value(), job.stage,
                  cleaned->deleted, cleaned->kept);
  return StepResult::Done();
}

StepResult StudyPipeline::RunStep(const jobs::Lease& lease) {
  auto job = deps_.store->GetJob(lease.id);
  if (!job.ok()) return StepResult::FromStatus(job.status());
  // `cancel JOB` while this worker held the job: stop here, between stages.
  if (auto cancel = deps_.store->IsCancelRequested(lease.id); cancel.ok() && *cancel) {
    return FinishCancel(*job);
  }
  const std::string& s = job->stage;
  if (s == stage::kRetrieving) return Retrieve(*job);
  if (s == stage::kCollecting) return Collect(*job);
  if (s == stage::kReceived) return Deidentify(*job);
  if (s == stage::kDeidentified) return Upload(*job);
  if (s == stage::kUploaded) return Commit(*job);
  if (s == stage::kCommitted) return Post(*job);
  if (s == stage::kPosted) return Clean(*job);
  return StepResult::Failed(common::InternalError("job in unknown stage " + s));
}

StepResult StudyPipeline::Retrieve(const JobRecord& job) {
  if (deps_.pacs == nullptr) {
    return StepResult::Failed(
        common::FailedPreconditionError("no [pacs] is configured, so studies cannot be fetched"));
  }
  if (job.expected_count < 0) {
    auto listed = ListStudyInstances(*deps_.pacs, job.study_uid);
    if (!listed.ok()) return StepResult::FromStatus(listed.status().WithContext("C-FIND"));
    if (listed->empty()) {
      return StepResult::Failed(
          common::NotFoundError("the PACS lists no instances for this study"));
    }
    std::vector<InstanceRecord> expected;
    for (const FindMatch& m : *listed) {
      InstanceRecord r;
      r.sop_key = deps_.keyer->Key(m.sop_uid);
      r.sop_uid = m.sop_uid;
      r.series_uid = m.series_uid;
      expected.push_back(std::move(r));
    }
    Status st = deps_.store->SetExpected(job.id, expected);
    if (!st.ok()) return StepResult::FromStatus(st);
    deps_.log->info("retrieve.listed job={} instances={}", job.id.value(), expected.size());
  }
  auto missing_of = [&]() -> Result<std::vector<InstanceRecord>> {
    TSUNAGU_ASSIGN_OR_RETURN(std::vector<InstanceRecord> all, deps_.store->ListInstances(job.id));
    std::vector<InstanceRecord> missing;
    for (InstanceRecord& r : all) {
      if (r.state == instance_state::kExpected) missing.push_back(std::move(r));
    }
    return missing;
  };
  auto missing = missing_of();
  if (!missing.ok()) return StepResult::FromStatus(missing.status());
  auto listed_total = deps_.store->GetJob(job.id);
  const int total = listed_total.ok() ? listed_total->expected_count : 0;
  if (missing->empty()) {
    deps_.log->info("retrieve.complete job={} instances={} moves={}", job.id.value(), total,
                    job.move_rounds);
    Status st = deps_.store->SetStage(job.id, stage::kReceived);
    return st.ok() ? StepResult::Done() : StepResult::FromStatus(st);
  }
  if (job.move_rounds > options_.max_move_retries) {
    return StepResult::Failed(
        common::NotFoundError(std::to_string(missing->size()) + " of " + std::to_string(total) +
                              " instances still missing after " + std::to_string(job.move_rounds) +
                              " C-MOVE requests (the PACS listed them but did not send them)"));
  }
  // A round is counted when its C-MOVE has finished: a crash of the gateway during a move must
  // not use up the PACS's re-request budget (the engine's attempt counter bounds crash loops).
  const int round = job.move_rounds + 1;
  Status st =
      deps_.store->SetMoveCounters(job.id, job.move_rounds, 0, static_cast<int>(missing->size()));
  if (!st.ok()) return StepResult::FromStatus(st);
  std::vector<MoveRequest> requests;
  if (job.move_rounds == 0) {
    requests.push_back(MoveRequest{job.study_uid, "", {}, options_.own_ae_title});
  } else {
    std::map<std::string, std::vector<std::string>> by_series;
    for (const InstanceRecord& r : *missing) by_series[r.series_uid].push_back(r.sop_uid);
    for (auto& [series, sops] : by_series) {
      requests.push_back(
          MoveRequest{job.study_uid, series, std::move(sops), options_.own_ae_title});
    }
  }
  deps_.log->info("retrieve.move job={} round={} missing={} requests={}", job.id.value(), round,
                  missing->size(), requests.size());
  // De-identify and upload what arrives while the moves run.
  std::unique_ptr<InstanceStream> stream = StartStream(job);
  auto end_stream = [&](bool drain) {
    if (!stream) return;
    StopStream(stream.get());
    const InstanceStream::Counts c = stream->Finish(drain);
    deps_.log->info(
        "retrieve.streamed job={} deidentified={} uploaded={} drained={} deidentify_cpu_ms={} "
        "upload_cpu_ms={} store_cpu_ms={}",
        job.id.value(), c.deidentified, c.uploaded, drain, c.deidentify_cpu.count(),
        c.upload_cpu.count(), c.coordinator_cpu.count());
    stream.reset();
  };
  auto last_write = deps_.clock->SteadyNow();
  int last_completed = 0;
  int last_remaining = 0;
  for (const MoveRequest& req : requests) {
    MoveRequest request = req;
    // Checked after each C-MOVE response (each instance the PACS sent): a cancel stops the move
    // within one instance.
    request.should_stop = [&] {
      auto c = deps_.store->IsCancelRequested(job.id);
      return c.ok() && *c;
    };
    auto moved = deps_.pacs->Move(request, options_.move_deadline, [&](const MoveProgress& p) {
      const auto now = deps_.clock->SteadyNow();
      if (now - last_write < std::chrono::milliseconds(250)) return;
      last_write = now;
      (void)deps_.store->SetMoveCounters(job.id, job.move_rounds, p.completed,
                                         std::max(0, p.remaining));
    });
    if (!moved.ok() && moved.status().code() == common::ErrorCode::kCancelled) {
      end_stream(false);
      return FinishCancel(job);
    }
    if (!moved.ok()) {
      deps_.log->warn("retrieve.move_failed job={} round={} code={} reason=\"{}\"", job.id.value(),
                      round, common::ErrorCodeName(moved.status().code()),
                      moved.status().message());
      // A refused or broken C-MOVE is not a round: the next attempt repeats the same request.
      end_stream(false);
      return StepResult::FromStatus(moved.status().WithContext("C-MOVE"));
    }
    last_completed = moved->last.completed;
    last_remaining = std::max(0, moved->last.remaining);
  }
  st = deps_.store->SetMoveCounters(job.id, round, last_completed, last_remaining);
  if (st.ok()) {
    missing = missing_of();
    if (!missing.ok()) st = missing.status();
  }
  if (!st.ok()) {
    end_stream(false);
    return StepResult::FromStatus(st);
  }
  if (missing->empty()) {
    deps_.log->info("retrieve.complete job={} instances={} moves={}", job.id.value(), total, round);
    st = deps_.store->SetStage(job.id, stage::kReceived);
    // The study is complete: finish streaming what is left under this lease (the de-identify and
    // upload steps then find little or nothing to do).
    end_stream(st.ok());
    return st.ok() ? StepResult::Done() : StepResult::FromStatus(st);
  }
  end_stream(false);
  deps_.log->warn("retrieve.incomplete job={} round={} missing={} of={}", job.id.value(), round,
                  missing->size(), total);
  // Some PACS answer before their C-STOREs finish: give late instances time, then re-request.
  return StepResult::Wait(options_.settle_time);
}

StepResult StudyPipeline::Collect(const JobRecord& job) {
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deps_.clock->SystemNow().time_since_epoch())
                                  .count();
  const std::int64_t quiet_for = now_ms - job.last_instance_at_ms;
  if (quiet_for < options_.quiet_period.count()) {
    return StepResult::Wait(std::chrono::milliseconds(options_.quiet_period.count() - quiet_for));
  }
  if (deps_.pacs != nullptr) {
    auto listed = ListStudyInstances(*deps_.pacs, job.study_uid);
    if (!listed.ok()) {
      deps_.log->warn("push.reconcile_skipped job={} code={} reason=\"{}\"", job.id.value(),
                      common::ErrorCodeName(listed.status().code()), listed.status().message());
    } else if (!listed->empty()) {
      std::vector<InstanceRecord> expected;
      for (const FindMatch& m : *listed) {
        InstanceRecord r;
        r.sop_key = deps_.keyer->Key(m.sop_uid);
        r.sop_uid = m.sop_uid;
        r.series_uid = m.series_uid;
        expected.push_back(std::move(r));
      }
      Status st = deps_.store->SetExpected(job.id, expected);
      if (!st.ok()) return StepResult::FromStatus(st);
      auto progress = deps_.store->Progress(job.id);
      if (progress.ok() && progress->expected > 0) {
        deps_.log->info("push.reconcile_missing job={} missing={}", job.id.value(),
                        progress->expected);
        // Fetch only what is missing: the retrieve step re-requests per instance.
        st = deps_.store->SetMoveCounters(job.id, 1, 0, progress->expected);
        if (st.ok()) st = deps_.store->SetStage(job.id, stage::kRetrieving);
        return st.ok() ? StepResult::Done() : StepResult::FromStatus(st);
      }
    }
  }
  deps_.log->info("push.complete job={} quiet_ms={}", job.id.value(), quiet_for);
  Status st = deps_.store->SetStage(job.id, stage::kReceived);
  return st.ok() ? StepResult::Done() : StepResult::FromStatus(st);
}

StepResult StudyPipeline::Deidentify(const JobRecord& job) {
  const fs::path out_dir = options_.outbox_dir / std::to_string(job.id.value());
  Status st = deps_.fs->CreateDirectories(out_dir);
  if (!st.ok()) return StepResult::FromStatus(st);
  // A pushed study, or a send resumed after a restart: de-identify and upload together. What the
  // stream leaves (a lost spool file, an error) is handled below exactly as without it.
  if (std::unique_ptr<InstanceStream> stream = StartStream(job)) {
    StopStream(stream.get());
    const InstanceStream::Counts c = stream->Finish(/*drain=*/true);
    deps_.log->info("deidentify.streamed job={} deidentified={} uploaded={}", job.id.value(),
                    c.deidentified, c.uploaded);
  }
  auto all = deps_.store->ListInstances(job.id);
  if (!all.ok()) return StepResult::FromStatus(all.status());
  std::vector<InstanceRecord> todo;
  std::vector<std::string> lost;
  for (InstanceRecord& r : *all) {
    if (r.state != instance_state::kReceived) continue;
    if (r.spool_path.empty() || !fs::exists(r.spool_path)) {
      lost.push_back(r.sop_key);
      continue;
    }
    todo.push_back(std::move(r));
  }
  if (!lost.empty()) {
    if (job.kind == JobKind::kSend && deps_.pacs != nullptr && !job.study_uid.empty()) {
      deps_.log->warn("spool.lost job={} instances={} action=refetch", job.id.value(), lost.size());
      st = deps_.store->RefetchInstances(job.id, lost);
      return st.ok() ? StepResult::Done() : StepResult::FromStatus(st);
    }
    return StepResult::Failed(common::DataLossError(std::to_string(lost.size()) +
                                                    " spooled instances are gone (instance " +
                                                    lost.front() + ")"));
  }
  bool have_study_info = !job.deid_study_uid.empty();
  auto deidentifier = DeidentifierFor(job);
  if (!deidentifier.ok()) return StepResult::FromStatus(deidentifier.status());
  std::vector<JobStore::DeidentifiedUpdate> results(todo.size());
  std::vector<DeidentifiedInstance> outputs(todo.size());
  st = ParallelBatches(
      todo.size(), options_.parallelism, options_.batch_size,
      [&](size_t i) -> Status {
        const InstanceRecord& r = todo[i];
        auto d = (*deidentifier)->Deidentify(r.spool_path, out_dir);
        if (!d.ok()) {
          deps_.log->warn("deidentify.failed job={} instance={} code={} reason=\"{}\"",
                          job.id.value(), r.sop_key, common::ErrorCodeName(d.status().code()),
                          d.status().message());
          return d.status();
        }
        auto hashed = HashFile(d->file);
        if (!hashed.ok()) return hashed.status();
        results[i] = {r.sop_key, d->sop_uid, d->file.string(), hashed->first, hashed->second};
        outputs[i] = std::move(*d);
        return Status();
      },
      [&](const std::vector<size_t>& batch) -> Status {
        if (!have_study_info) {
          const DeidentifiedInstance& d = outputs[batch.front()];
          const CardFacts facts{d.patient_key, d.body_part, d.study_description, d.study_date,
                                d.study_time};
          TSUNAGU_RETURN_IF_ERROR(deps_.store->SetStudyInfo(
              job.id, d.study_uid, d.patient_id_suffix, d.modality, &facts));
          have_study_info = true;
        }
        std::vector<JobStore::DeidentifiedUpdate> updates;
        for (size_t i : batch) updates.push_back(results[i]);
        TSUNAGU_RETURN_IF_ERROR(deps_.store->SetDeidentifiedMany(job.id, updates));
        deps_.metrics->instances_deidentified += batch.size();
        return CancelCheck(job.id);
      });
  if (st.code() == common::ErrorCode::kCancelled) return FinishCancel(job);
  if (!st.ok()) return StepResult::FromStatus(st);
  deps_.log->info("deidentify.done job={} instances={}", job.id.value(), todo.size());
  st = deps_.store->SetStage(job.id, stage::kDeidentified);
  return st.ok() ? StepResult::Done() : StepResult::FromStatus(st);
}

StepResult StudyPipeline::Upload(const JobRecord& job) {
  auto all = deps_.store->ListInstances(job.id);
  if (!all.ok()) return StepResult::FromStatus(all.status());
  std::vector<InstanceRecord> todo;
  for (InstanceRecord& r : *all) {
    if (r.state == instance_state::kDeidentified) todo.push_back(std::move(r));
  }
  Status st = ParallelBatches(
      todo.size(), std::max(1, options_.upload_connections), options_.batch_size,
      [&](size_t i) -> Status {
        const InstanceRecord& r = todo[i];
        Status up = deps_.uploader->UploadKnown(
            job.deid_study_uid, UploadedInstance{r.deid_sop_uid, r.sha256_hex, r.size},
            r.deid_path);
        if (!up.ok()) {
          deps_.log->warn("upload.failed job={} instance={} code={} reason=\"{}\"", job.id.value(),
                          r.sop_key, common::ErrorCodeName(up.code()), up.message());
          return up.WithContext("upload");
        }
        return Status();
      },
      [&](const std::vector<size_t>& batch) -> Status {
        std::vector<std::string> keys;
        for (size_t i : batch) keys.push_back(todo[i].sop_key);
        TSUNAGU_RETURN_IF_ERROR(deps_.store->SetUploadedMany(job.id, keys));
        deps_.metrics->instances_uploaded += batch.size();
        return CancelCheck(job.id);
      });
  if (st.code() == common::ErrorCode::kCancelled) return FinishCancel(job);
  if (!st.ok()) return StepResult::FromStatus(st);
  deps_.log->info("upload.done job={} instances={}", job.id.value(), todo.size());
  st = deps_.store->SetStage(job.id, stage::kUploaded);
  return st.ok() ? StepResult::Done() : StepResult::FromStatus(st);
}

StepResult StudyPipeline::Commit(const JobRecord& job) {
  auto all = deps_.store->ListInstances(job.id);
  if (!all.ok()) return StepResult::FromStatus(all.status());
  std::vector<UploadedInstance> list;
  for (const InstanceRecord& r : *all) {
    if (r.state != instance_state::kUploaded) {
      return StepResult::Failed(
          common::InternalError("commit reached with an instance in state " + r.state));
    }
    list.push_back(UploadedInstance{r.deid_sop_uid, r.sha256_hex, r.size});
  }
  std::optional<std::chrono::milliseconds> retention;
  if (auto it = options_.thread_retention.find(job.thread); it != options_.thread_retention.end()) {
    retention = it->second;
  }
  // A thread that asks for access codes: one code per job, recorded before the first commit so
  // that a repeated commit (a retry, a restart) protects its new link with the same code.
  std::string access_code = job.access_code;
  if (access_code.empty() && options_.access_code_threads.contains(job.thread)) {
    auto code = NewAccessCode();
    if (!code.ok()) return StepResult::FromStatus(code.status());
    access_code = *code;
    Status saved = deps_.store->SetAccessCode(job.id, access_code);
    if (!saved.ok()) return StepResult::FromStatus(saved);
  }
  auto committed =
      deps_.uploader->Commit(job.deid_study_uid, list, job.thread, retention, access_code);
  // The relay lost an instance it had acknowledged (its host restarted before the commit's sync,
  // relay/PROTOCOL.md "Durability") and names it by its position in the list: upload that one
  // again and repeat the commit (both idempotent). Each answer names one instance; after a few
  // the general path below uploads everything again.
  for (int round = 0; round < kMaxLostInstanceRounds && !committed.ok() &&
                      committed.status().code() == common::ErrorCode::kFailedPrecondition;
       ++round) {
    const std::optional<size_t> lost = LostInstancePosition(committed.status().message());
    if (!lost || *lost >= all->size()) break;
    const InstanceRecord& r = (*all)[*lost];
    deps_.log->warn("commit.instance_lost job={} instance={} action=reupload", job.id.value(),
                    r.sop_key);
    Status up = deps_.uploader->UploadKnown(
        job.deid_study_uid, UploadedInstance{r.deid_sop_uid, r.sha256_hex, r.size}, r.deid_path);
    if (!up.ok()) {
      deps_.log->warn("upload.failed job={} instance={} code={} reason=\"{}\"", job.id.value(),
                      r.sop_key, common::ErrorCodeName(up.code()), up.message());
      return StepResult::FromStatus(up.WithContext("upload of a lost instance"));
    }
    committed =
        deps_.uploader->Commit(job.deid_study_uid, list, job.thread, retention, access_code);
  }
  if (!committed.ok() && committed.status().code() == common::ErrorCode::kFailedPrecondition) {
    // The relay does not hold every listed instance as uploaded (it lost one, e.g. killed before
    // it was durable): upload again, which is idempotent, and commit after that. Bounded by the
    // engine's attempt limit.
    deps_.log->warn("commit.incomplete job={} reason=\"{}\" action=reupload", job.id.value(),
                    committed.status().message());
    Status st = deps_.store->RestartUploads(job.id);
    if (!st.ok()) return StepResult::FromStatus(st);
    return StepResult::Retry(
        common::UnavailableError(committed.status().message()).WithContext("commit"));
  }
  if (!committed.ok()) {
    deps_.log->warn("commit.failed job={} code={} reason=\"{}\"", job.id.value(),
                    common::ErrorCodeName(committed.status().code()), committed.status().message());
    return StepResult::FromStatus(committed.status().WithContext("commit"));
  }
  Status st = deps_.store->SetCommitted(job.id, committed->viewer_url, committed->expires_at);
  if (!st.ok()) return StepResult::FromStatus(st);
  ++deps_.metrics->studies_committed;
  deps_.log->info("commit.done job={} instances={} already_committed={} expires_at={}",
                  job.id.value(), list.size(), committed->already_committed, committed->expires_at);
  // The de-identified copy is at the relay: the identified originals go now, beside the post.
  janitor_->Enqueue(job);
  return StepResult::Done();
}

StepResult StudyPipeline::Post(const JobRecord& job) {
  // Again at every attempt: after a restart the committed job's deletion was not queued.
  janitor_->Enqueue(job);
  auto progress = deps_.store->Progress(job.id);
  LinkPost post;
  post.job = job.id;
  post.thread = job.thread;
  post.viewer_url = job.viewer_url;
  post.expires_at = job.expires_at;
  post.patient_id_suffix = job.patient_id_suffix;
  post.modality = job.modality;
  post.note = job.note;
  post.instances = progress.ok() ? progress->total : 0;
  post.deid_study_uid = job.deid_study_uid;
  auto facts = deps_.store->GetCardFacts(job.id);
  if (!facts.ok()) return StepResult::FromStatus(facts.status().WithContext("post link"));
  post.patient_key = facts->patient_key;
  post.body_part = facts->body_part;
  post.study_description = facts->study_description;
  post.study_date = facts->study_date;
  post.study_time = facts->study_time;
  // Series are counted by their original UIDs, which the job keeps until it is cleaned (after
  // the post); only the count leaves this function.
  if (auto all = deps_.store->ListInstances(job.id); all.ok()) {
    std::set<std::string> series;
    for (const InstanceRecord& r : *all) {
      if (!r.series_uid.empty()) series.insert(r.series_uid);
    }
    post.series = static_cast<int>(series.size());
  }
  const LinkPoster::Outcome posted = deps_.poster->PostWithRetryAfter(post);
  Status st = posted.status;
  if (!st.ok() && st.retryable() && posted.retry_after) {
    return StepResult::Retry(st.WithContext("post link"), posted.retry_after);
  }
  if (!st.ok()) return StepResult::FromStatus(st.WithContext("post link"));
  ++deps_.metrics->links_posted;
  st = deps_.store->SetStage(job.id, stage::kPosted);
  return st.ok() ? StepResult::Done() : StepResult::FromStatus(st);
}

StepResult StudyPipeline::Clean(const JobRecord& job) {
  // Not deleting the same files twice at once; whatever the janitor left is deleted here.
  janitor_->Wait(job.id, std::chrono::minutes(1));
  Status st = DeleteSpoolFiles(job);
  if (!st.ok()) return StepResult::FromStatus(st);
  std::error_code ec;
  fs::remove_all(options_.outbox_dir / std::to_string(job.id.value()), ec);
  if (ec) return StepResult::FromStatus(common::StatusFromErrno(ec.value(), "remove outbox"));
  st = deps_.store->ForgetIdentifiers(job.id);
  if (st.ok()) st = deps_.store->SetStage(job.id, stage::kCleaned);
  if (!st.ok()) return StepResult::FromStatus(st);
  deps_.log->info("job.cleaned job={}", job.id.value());
  return StepResult::Done();
}

Status StudyPipeline::DeleteSpoolFiles(const JobRecord& job) {
  TSUNAGU_ASSIGN_OR_RETURN(std::vector<InstanceRecord> all, deps_.store->ListInstances(job.id));
  // Files first, then one transaction forgetting them: a crash in between leaves paths to files
  // that are gone, which the next run skips.
  std::vector<std::string> cleared;
  std::set<fs::path> dirs;
  for (const InstanceRecord& r : all) {
    if (r.spool_path.empty()) continue;
    TSUNAGU_ASSIGN_OR_RETURN(bool needed,
                             deps_.store->OtherJobNeedsSpoolFile(job.id, r.spool_path));
    if (!needed) {
      std::error_code ec;
      if (!fs::remove(r.spool_path, ec) && ec) {
        return common::StatusFromErrno(ec.value(), "remove a spool file");
      }
      dirs.insert(fs::path(r.spool_path).parent_path());
    }
    cleared.push_back(r.sop_key);
  }
  for (const fs::path& d : dirs) {
    std::error_code ec;
    fs::remove(d, ec);  // only succeeds when empty
  }
  if (cleared.empty()) return Status();
  return deps_.store->ClearSpoolPaths(job.id, cleared);
}

Result<int> StudyPipeline::SweepSpool() {
  const auto now = fs::file_time_type::clock::now();
  const auto max_age = options_.spool_max_age;
  int deleted = 0;
  std::error_code ec;
  for (const fs::path& root : {options_.spool_dir, options_.outbox_dir}) {
    if (!fs::exists(root, ec)) continue;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      const auto mtime = it->last_write_time(ec);
      if (ec || now - mtime < max_age) continue;
      const std::string path = it->path().string();
      auto jobs_needing = deps_.store->JobsNeedingSpoolFile(path);
      if (jobs_needing.ok()) {
        for (JobId id : *jobs_needing) {
          (void)deps_.store->Fail(
              jobs::Lease{id, "", 0},
              common::DeadlineExceededError(
                  "identified data reached the spool ceiling (spool_max_age) before the study "
                  "was sent; it was deleted")
                  .NotRetryable());
          deps_.log->error("spool.ceiling_failed_job job={}", id.value());
        }
      }
      if (deps_.fs->Remove(it->path()).ok()) {
        ++deleted;
        ++deps_.metrics->spool_files_expired;
      }
    }
  }
  if (deleted > 0) deps_.log->warn("spool.ceiling_deleted files={}", deleted);
  return deleted;
}

}  // namespace tsunagu::gateway
