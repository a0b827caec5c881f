#include "instance_stream.h"

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <fstream>

#include "tsunagu/common/crypto.h"

namespace tsunagu::gateway {

using common::Result;
using common::Status;
namespace fs = std::filesystem;

namespace {
// CPU time the calling thread has used.
std::chrono::milliseconds ThreadCpu() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::milliseconds(static_cast<std::int64_t>(ts.tv_sec) * 1000 +
                                   ts.tv_nsec / 1000000);
}

// Upper bound on how long the coordinator sleeps when nobody wakes it (a missed wake-up costs at
// most this much latency, never a hang).
constexpr auto kPollEvery = std::chrono::milliseconds(50);
// How long the coordinator lets events gather after a wake-up (short next to an instance's
// de-identification or upload, long next to a C-STORE).
constexpr auto kGather = std::chrono::milliseconds(5);
}  // namespace

Result<std::pair<std::string, std::int64_t>> HashFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return common::NotFoundError("cannot open a de-identified file");
  common::Sha256Hasher hasher;
  std::string buf(1 << 20, '\0');
  std::int64_t total = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    if (n <= 0) break;
    hasher.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    total += n;
  }
  if (in.bad()) return common::DataLossError("cannot read a de-identified file");
  return std::make_pair(common::HexEncode(hasher.Finish()), total);
}

InstanceStream::InstanceStream(const PipelineOptions& options, const StudyPipeline::Deps& deps,
                               const JobRecord& job, fs::path out_dir)
    : options_(options),
      deps_(deps),
      job_(job),
      out_dir_(std::move(out_dir)),
      window_(static_cast<size_t>(std::max({1, options.parallelism, options.upload_connections})) *
              2),
      deid_study_uid_(job.deid_study_uid) {}

InstanceStream::~InstanceStream() { (void)Finish(false); }

void InstanceStream::Start() {
  const int n = std::max(1, options_.parallelism);
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this] {
      ::pthread_setname_np(::pthread_self(), "tsu-deidentify");
      DeidentifyWorker();
      const auto cpu = ThreadCpu();
      std::lock_guard<std::mutex> lock(mu_);
      counts_.deidentify_cpu += cpu;
    });
  }
  // One upload worker per relay connection: each keeps its connection busy.
  const int uploads = std::max(1, options_.upload_connections);
  for (int i = 0; i < uploads; ++i) {
    threads_.emplace_back([this] {
      ::pthread_setname_np(::pthread_self(), "tsu-upload");
      UploadWorker();
      const auto cpu = ThreadCpu();
      std::lock_guard<std::mutex> lock(mu_);
      counts_.upload_cpu += cpu;
    });
  }
  coordinator_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "tsu-stream");
    Coordinate();
    const auto cpu = ThreadCpu();
    std::lock_guard<std::mutex> lock(mu_);
    counts_.coordinator_cpu += cpu;
  });
}

void InstanceStream::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  coordinator_cv_.notify_one();
}

InstanceStream::Counts InstanceStream::Finish(bool drain) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return counts_;
    finished_ = true;
    if (drain) {
      draining_ = true;
    } else {
      stopping_ = true;
    }
    wake_ = true;
  }
  coordinator_cv_.notify_one();
  if (coordinator_.joinable()) coordinator_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    workers_exit_ = true;
  }
  worker_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

Status InstanceStream::deidentify_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deid_error_;
}

void InstanceStream::Coordinate() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      coordinator_cv_.wait_for(lock, kPollEvery, [this] { return wake_; });
      // Let a few more arrivals and results gather: one read and one record per few events
      // instead of one per event (each is a query or a transaction).
      if (!stopping_ && !draining_) {
        coordinator_cv_.wait_for(lock, kGather, [this] { return stopping_ || draining_; });
      }
      wake_ = false;
    }
    const bool store_ok = Record();
    const size_t remaining = Feed();
    std::lock_guard<std::mutex> lock(mu_);
    if (!store_ok) stopping_ = true;
    if (stopping_) {
      // Work not yet started stays in the store for the stage steps.
      for (const auto* q : {&deid_queue_, &upload_queue_}) {
        for (const InstanceRecord& r : *q) in_flight_.erase(r.sop_key);
      }
      deid_queue_.clear();
      upload_queue_.clear();
    }
    const bool done = stopping_ || (draining_ && remaining == 0);
    if (done && in_flight_.empty() && deid_done_.empty() && upload_done_.empty()) return;
  }
}

bool InstanceStream::Record() {
  std::vector<DeidResult> deid;
  std::vector<std::string> uploaded;
  {
    std::lock_guard<std::mutex> lock(mu_);
    deid.swap(deid_done_);
    uploaded.swap(upload_done_);
  }
  auto forget = [this](const std::vector<std::string>& keys) {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& k : keys) in_flight_.erase(k);
  };
  bool ok = true;
  if (!deid.empty()) {
    std::vector<JobStore::DeidentifiedUpdate> updates;
    std::vector<std::string> keys;
    for (const DeidResult& d : deid) {
      updates.push_back(d.update);
      keys.push_back(d.update.sop_key);
    }
    Status st;
    if (!have_study_info_ && job_.deid_study_uid.empty()) {
      const DeidentifiedInstance& first = deid.front().instance;
      // With the card's facts and the per-patient route key, in one transaction (as the
      // de-identify stage records them): a kill between the two would lose the route.
      const CardFacts facts{first.patient_key, first.body_part, first.study_description,
                            first.study_date, first.study_time};
      st = deps_.store->SetStudyInfo(job_.id, first.study_uid, first.patient_id_suffix,
                                     first.modality, &facts);
    }
    // Not waiting for the disk: a lost row only repeats idempotent work (see JobStore).
    if (st.ok()) st = deps_.store->SetDeidentifiedMany(job_.id, updates, /*durable=*/false);
    if (st.ok()) {
      have_study_info_ = true;
      deps_.metrics->instances_deidentified += deid.size();
      std::lock_guard<std::mutex> lock(mu_);
      if (deid_study_uid_.empty()) deid_study_uid_ = deid.front().instance.study_uid;
      counts_.deidentified += static_cast<int>(deid.size());
    } else {
      deps_.log->info("stream.record_failed job={} code={} reason=\"{}\"", job_.id.value(),
                      common::ErrorCodeName(st.code()), st.message());
      ok = false;
    }
    forget(keys);
  }
  if (!uploaded.empty()) {
    Status st = deps_.store->SetUploadedMany(job_.id, uploaded, /*durable=*/false);
    if (st.ok()) {
      deps_.metrics->instances_uploaded += uploaded.size();
      std::lock_guard<std::mutex> lock(mu_);
      counts_.uploaded += static_cast<int>(uploaded.size());
    } else {
      deps_.log->info("stream.record_failed job={} code={} reason=\"{}\"", job_.id.value(),
                      common::ErrorCodeName(st.code()), st.message());
      ok = false;
    }
    forget(uploaded);
  }
  return ok;
}

size_t InstanceStream::Feed() {
  bool feed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    feed = !stopping_ && ((deid_error_.ok() && deid_queue_.size() < window_) ||
                          (upload_error_.ok() && upload_queue_.size() < window_) || draining_);
  }
  std::vector<InstanceRecord> all;
  if (feed) {
    auto listed = deps_.store->ListInstancesInStates(job_.id, instance_state::kReceived,
                                                     instance_state::kDeidentified);
    if (!listed.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      return in_flight_.size();
    }
    all = std::move(listed).value();
  }
  std::lock_guard<std::mutex> lock(mu_);
  size_t remaining = in_flight_.size();
  if (stopping_) return remaining;
  const bool can_deid = deid_error_.ok();
  const bool can_upload = upload_error_.ok() && !deid_study_uid_.empty();
  if (!can_deid) {
    for (const InstanceRecord& r : deid_queue_) in_flight_.erase(r.sop_key);
    remaining -= deid_queue_.size();
    deid_queue_.clear();
  }
  if (!upload_error_.ok()) {
    for (const InstanceRecord& r : upload_queue_) in_flight_.erase(r.sop_key);
    remaining -= upload_queue_.size();
    upload_queue_.clear();
  }
  bool queued = false;
  for (InstanceRecord& r : all) {
    if (in_flight_.count(r.sop_key) != 0) continue;
    if (r.state == instance_state::kReceived && can_deid) {
      if (skipped_.count(r.sop_key) != 0) continue;
      if (deid_queue_.size() >= window_) {
        ++remaining;
        continue;
      }
      std::error_code ec;
      if (r.spool_path.empty() || !fs::exists(r.spool_path, ec)) {
        // A lost spool file: the de-identify step sends the job back to be fetched again.
        skipped_.insert(r.sop_key);
        continue;
      }
      ++remaining;
      in_flight_.insert(r.sop_key);
      deid_queue_.push_back(std::move(r));
      queued = true;
    } else if (r.state == instance_state::kDeidentified && can_upload) {
      ++remaining;
      if (upload_queue_.size() >= window_) continue;
      in_flight_.insert(r.sop_key);
      upload_queue_.push_back(std::move(r));
      queued = true;
    }
  }
  if (queued) worker_cv_.notify_all();
  return remaining;
}

void InstanceStream::DeidentifyWorker() {
  for (;;) {
    InstanceRecord r;
    {
      std::unique_lock<std::mutex> lock(mu_);
      worker_cv_.wait(lock, [this] { return workers_exit_ || !deid_queue_.empty(); });
      if (deid_queue_.empty()) return;
      r = std::move(deid_queue_.front());
      deid_queue_.pop_front();
    }
    Status st;
    DeidResult result;
    auto d = deps_.deidentifier->Deidentify(r.spool_path, out_dir_);
    if (d.ok()) {
      auto hashed = HashFile(d->file);
      if (hashed.ok()) {
        result.update = {r.sop_key, d->sop_uid, d->file.string(), hashed->first, hashed->second};
        result.instance = std::move(*d);
      } else {
        st = hashed.status();
      }
    } else {
      st = d.status();
      deps_.log->warn("deidentify.failed job={} instance={} code={} reason=\"{}\"", job_.id.value(),
                      r.sop_key, common::ErrorCodeName(st.code()), st.message());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (st.ok()) {
        deid_done_.push_back(std::move(result));
      } else {
        in_flight_.erase(r.sop_key);
        if (deid_error_.ok()) deid_error_ = st;
      }
      wake_ = true;
    }
    coordinator_cv_.notify_one();
  }
}

void InstanceStream::UploadWorker() {
  for (;;) {
    InstanceRecord r;
    std::string study;
    {
      std::unique_lock<std::mutex> lock(mu_);
      worker_cv_.wait(lock, [this] { return workers_exit_ || !upload_queue_.empty(); });
      if (upload_queue_.empty()) return;
      r = std::move(upload_queue_.front());
      upload_queue_.pop_front();
      study = deid_study_uid_;
    }
    Status st = deps_.uploader->UploadKnown(
        study, UploadedInstance{r.deid_sop_uid, r.sha256_hex, r.size}, r.deid_path);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (st.ok()) {
        upload_done_.push_back(r.sop_key);
      } else {
        in_flight_.erase(r.sop_key);
        if (upload_error_.ok()) {
          upload_error_ = st;
          // Not an alarm: the upload step retries with the engine's backoff.
          deps_.log->info("stream.upload_paused job={} code={} reason=\"{}\"", job_.id.value(),
                          common::ErrorCodeName(st.code()), st.message());
        }
      }
      wake_ = true;
    }
    coordinator_cv_.notify_one();
  }
}

}  // namespace tsunagu::gateway
