// A generic, durable job engine: workers claim leased jobs from a JobQueue, run one step of each
// through a JobRunner, and the engine decides what happens next (Orthanc's JobsEngine; the
// gateway's study jobs are the ServerJobs side). Nothing here knows about DICOM or SQLite.
//
// A step returns Done (the runner moved the job on, or finished it), Wait(after) (nothing to do
// yet, e.g. a quiet period; not an attempt), Retry(status, after) (a retryable failure; the engine
// chooses exponential backoff with jitter unless `after` is given) or Failed(status).
#ifndef TSUNAGU_JOBS_JOB_ENGINE_H_
#define TSUNAGU_JOBS_JOB_ENGINE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tsunagu/common/clock.h"
#include "tsunagu/common/result.h"
#include "tsunagu/common/status.h"
#include "tsunagu/common/strong_types.h"

namespace tsunagu::jobs {

using std::chrono::milliseconds;

class StepResult {
 public:
  enum class Kind { kDone, kWait, kRetry, kFailed };
  static StepResult Done() { return StepResult(Kind::kDone, {}, std::nullopt); }
  static StepResult Wait(milliseconds after) { return StepResult(Kind::kWait, {}, after); }
  static StepResult Retry(common::Status why, std::optional<milliseconds> after = std::nullopt) {
    return StepResult(Kind::kRetry, std::move(why), after);
  }
  static StepResult Failed(common::Status why) {
    return StepResult(Kind::kFailed, std::move(why), std::nullopt);
  }
  // Retry when `status` is retryable, Failed otherwise.
  static StepResult FromStatus(common::Status status) {
    return status.retryable() ? Retry(std::move(status)) : Failed(std::move(status));
  }
  Kind kind() const { return kind_; }
  const common::Status& status() const { return status_; }
  std::optional<milliseconds> after() const { return after_; }

 private:
  StepResult(Kind kind, common::Status status, std::optional<milliseconds> after)
      : kind_(kind), status_(std::move(status)), after_(after) {}
  Kind kind_;
  common::Status status_;
  std::optional<milliseconds> after_;
};

// A claimed job: the id, the stage it is in, and how many attempts the stage has had (1 on the
// first claim of a stage).
struct Lease {
  common::JobId id;
  std::string stage;
  int attempt = 0;
  friend bool operator==(const Lease&, const Lease&) = default;
};

// The durable queue. Implementations must be safe to use from several threads and several
// processes (the claim is atomic: one lease per job at a time).
class JobQueue {
 public:
  virtual ~JobQueue() = default;
  // Claims the runnable job whose next attempt is due earliest (next_attempt_at <= now, no live
  // lease, not terminal), sets its lease to `owner` until now + `lease_for` and increments its
  // attempt counter. nullopt when nothing is due.
  virtual common::Result<std::optional<Lease>> Claim(const std::string& owner,
                                                     std::chrono::system_clock::time_point now,
                                                     milliseconds lease_for) = 0;
  // Releases the lease. `next_attempt_at` is when the job may be claimed again; `reset_attempts`
  // after progress (Done) or a Wait; `error` (may be OK) is recorded as the last error.
  virtual common::Status Release(const Lease& lease,
                                 std::chrono::system_clock::time_point next_attempt_at,
                                 bool reset_attempts, const common::Status& error) = 0;
  // Marks the job failed for good, keeping `why` as its reason.
  virtual common::Status Fail(const Lease& lease, const common::Status& why) = 0;
};

// Runs one step of a job. Must be idempotent: a step may be run again after a crash.
class JobRunner {
 public:
  virtual ~JobRunner() = default;
  virtual StepResult RunStep(const Lease& lease) = 0;
};

// Source of randomness for jitter, injectable so tests are deterministic.
class Random {
 public:
  virtual ~Random() = default;
  // Uniform in [0, 1).
  virtual double Uniform() = 0;
};

class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : engine_(seed) {}
  double Uniform() override;

 private:
  std::mutex mu_;
  std::mt19937_64 engine_;  // GUARDED_BY(mu_)
};

// Exponential backoff with "equal jitter": attempt n waits between d/2 and d, where
// d = min(cap, base * 2^(n-1)).
struct BackoffPolicy {
  milliseconds base = std::chrono::milliseconds(500);
  milliseconds cap = std::chrono::minutes(5);
  milliseconds Delay(int attempt, Random& random) const;
};

struct EngineOptions {
  int workers = 2;
  milliseconds lease_for = std::chrono::minutes(10);
  // Upper bound on how long an idle worker sleeps before polling the queue again.
  milliseconds idle_poll = std::chrono::milliseconds(200);
  // Attempts of one stage before the job fails with its last error.
  int max_attempts = 8;
  BackoffPolicy backoff;
  std::string owner = "engine";
};

// Reports what happened to each step (for logs and metrics).
using StepObserver = std::function<void(const Lease&, const StepResult&)>;

class JobEngine {
 public:
  struct Deps {
    JobQueue* queue;    // not owned; must outlive the engine
    JobRunner* runner;  // not owned
    common::Clock* clock;
    Random* random;
    StepObserver observer;  // optional
  };
  JobEngine(EngineOptions options, Deps deps);
  ~JobEngine();  // stops the workers
  JobEngine(const JobEngine&) = delete;
  JobEngine& operator=(const JobEngine&) = delete;

  // Starts the worker threads.
  void Start();
  // Asks workers to stop after their current step and joins them.
  void Stop();
  // Wakes idle workers (new work was queued).
  void Wake();

  // Claims and runs at most one step in the calling thread. Returns whether a step ran.
  common::Result<bool> RunOnceForTest() { return RunOne(); }

 private:
  common::Result<bool> RunOne();
  void WorkerLoop();

  EngineOptions options_;
  Deps deps_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // GUARDED_BY(mu_)
  bool woken_ = false;  // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace tsunagu::jobs

#endif  // TSUNAGU_JOBS_JOB_ENGINE_H_
