// Private: the streaming part of the study pipeline. While a C-MOVE is still delivering a study,
// InstanceStream de-identifies each instance as soon as it is in the spool and uploads each
// de-identified instance as soon as that is recorded, so the three stages overlap instead of
// running one after another.
//
// The job store stays the only source of truth and the only queue: the stream reads which
// instances are "received" or "deidentified", hands at most `window` of each to its workers (the
// bounded in-memory queues are windows over the database, never the record of the work), and
// records every result in the store before the next stage may act on it (de-identified before
// uploaded). A crash loses only work in flight, which the stage steps redo: de-identification
// writes the same output atomically and uploads are idempotent at the relay. Errors do not end
// the stream's caller: the stream stops that kind of work and leaves the instances in their
// state, so the de-identify and upload steps meet the same error and the engine decides (backoff,
// failure) as before.
#ifndef TSUNAGU_GATEWAY_SRC_INSTANCE_STREAM_H_
#define TSUNAGU_GATEWAY_SRC_INSTANCE_STREAM_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tsunagu/gateway/pipeline.h"

namespace tsunagu::gateway {

// SHA-256 (hex) and size of a file, read in 1 MiB pieces.
common::Result<std::pair<std::string, std::int64_t>> HashFile(const std::filesystem::path& path);

class InstanceStream {
 public:
  struct Counts {
    int deidentified = 0;
    int uploaded = 0;
    // CPU time of the stream's own threads (the relay client's I/O threads are not included).
    std::chrono::milliseconds deidentify_cpu{0};
    std::chrono::milliseconds upload_cpu{0};
    std::chrono::milliseconds coordinator_cpu{0};  // reading and recording in the job store
  };
  // `job` as read when the step began; `out_dir` exists. Starts no thread yet.
  InstanceStream(const PipelineOptions& options, const StudyPipeline::Deps& deps,
                 const JobRecord& job, std::filesystem::path out_dir);
  ~InstanceStream();
  InstanceStream(const InstanceStream&) = delete;
  InstanceStream& operator=(const InstanceStream&) = delete;

  void Start();
  // New instances may be in the store (called by the intake through the pipeline).
  void Poke();
  // Drain: keeps going until no instance of the job is left "received" or "deidentified" (or
  // the work that remains has failed), then stops. Otherwise stops after the work in flight.
  // Every finished result is recorded before it returns. Idempotent.
  Counts Finish(bool drain);
  // The first de-identification error, if any (the de-identify step will meet it again).
  common::Status deidentify_error() const;

 private:
  struct DeidResult {
    JobStore::DeidentifiedUpdate update;
    DeidentifiedInstance instance;
  };
  void Coordinate();
  void DeidentifyWorker();
  void UploadWorker();
  // Records finished work in the store; returns false when the store failed.
  bool Record();
  // Fills the work queues from the store; returns how much work remains (queued, in flight, or
  // waiting in the store).
  size_t Feed();

  const PipelineOptions& options_;
  const StudyPipeline::Deps deps_;  // a copy: the pipeline may give each job its de-identifier
  const JobRecord job_;
  const std::filesystem::path out_dir_;
  const size_t window_;

  mutable std::mutex mu_;
  std::condition_variable coordinator_cv_;   // work finished, poked, or finishing
  std::condition_variable worker_cv_;        // queued work or stopping
  std::deque<InstanceRecord> deid_queue_;    // GUARDED_BY(mu_)
  std::deque<InstanceRecord> upload_queue_;  // GUARDED_BY(mu_)
  std::set<std::string> in_flight_;          // sop keys handed out, not yet recorded
  std::vector<DeidResult> deid_done_;        // GUARDED_BY(mu_)
  std::vector<std::string> upload_done_;     // GUARDED_BY(mu_)
  std::string deid_study_uid_;               // GUARDED_BY(mu_)
  common::Status deid_error_;                // GUARDED_BY(mu_)
  common::Status upload_error_;              // GUARDED_BY(mu_)
  std::set<std::string> skipped_;            // received, spool file gone; GUARDED_BY(mu_)
  bool wake_ = true;                         // GUARDED_BY(mu_)
  bool draining_ = false;                    // GUARDED_BY(mu_)
  bool stopping_ = false;                    // GUARDED_BY(mu_)
  bool workers_exit_ = false;                // GUARDED_BY(mu_)
  bool finished_ = false;                    // GUARDED_BY(mu_)
  Counts counts_;                            // GUARDED_BY(mu_)
  bool have_study_info_ = false;             // coordinator thread only
  std::vector<std::thread> threads_;
  std::thread coordinator_;
};

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_SRC_INSTANCE_STREAM_H_
