#include "tsunagu/jobs/job_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <deque>
#include <map>
#include <thread>

namespace tsunagu::jobs {
namespace {

using namespace std::chrono_literals;
using common::JobId;

class FixedRandom final : public Random {
 public:
  explicit FixedRandom(double v) : v_(v) {}
  double Uniform() override { return v_; }

 private:
  double v_;
};

TEST(BackoffPolicy, GrowsExponentiallyWithinJitterAndCap) {
  BackoffPolicy p{500ms, 10s};
  FixedRandom low(0.0);
  FixedRandom high(0.999999);
  EXPECT_EQ(p.Delay(1, low), 250ms);
  EXPECT_EQ(p.Delay(2, low), 500ms);
  EXPECT_EQ(p.Delay(3, low), 1000ms);
  EXPECT_NEAR(static_cast<double>(p.Delay(3, high).count()), 2000.0, 1.0);
  EXPECT_EQ(p.Delay(30, low), 5s);  // half the cap
  EXPECT_LE(p.Delay(30, high), 10s);
}

TEST(BackoffPolicy, SeededRandomIsDeterministic) {
  SeededRandom a(42);
  SeededRandom b(42);
  BackoffPolicy p;
  for (int i = 1; i < 10; ++i) EXPECT_EQ(p.Delay(i, a), p.Delay(i, b));
}

// An in-memory JobQueue that records what the engine did.
class MemoryQueue final : public JobQueue {
 public:
  struct Job {
    std::string stage = "s";
    int attempts = 0;
    std::chrono::system_clock::time_point next;
    bool leased = false;
    bool failed = false;
    std::string error;
  };
  std::map<std::int64_t, Job> jobs;

  common::Result<std::optional<Lease>> Claim(const std::string&,
                                             std::chrono::system_clock::time_point now,
                                             milliseconds) override {
    for (auto& [id, j] : jobs) {
      if (j.failed || j.leased || j.next > now) continue;
      j.leased = true;
      ++j.attempts;
      return std::optional<Lease>(Lease{JobId(id), j.stage, j.attempts});
    }
    return std::optional<Lease>();
  }
  common::Status Release(const Lease& lease, std::chrono::system_clock::time_point next, bool reset,
                         const common::Status& error) override {
    Job& j = jobs[lease.id.value()];
    j.leased = false;
    j.next = next;
    if (reset) j.attempts = 0;
    if (!error.ok()) j.error = error.ToString();
    return common::Status();
  }
  common::Status Fail(const Lease& lease, const common::Status& why) override {
    Job& j = jobs[lease.id.value()];
    j.leased = false;
    j.failed = true;
    j.error = why.ToString();
    return common::Status();
  }
};

class ScriptedRunner final : public JobRunner {
 public:
  std::deque<StepResult> script;
  std::atomic<int> calls{0};
  StepResult RunStep(const Lease&) override {
    ++calls;
    StepResult r = script.front();
    if (script.size() > 1) script.pop_front();
    return r;
  }
};

struct EngineFixture {
  MemoryQueue queue;
  ScriptedRunner runner;
  common::FakeClock clock;
  FixedRandom random{0.0};
  EngineOptions options;
  std::unique_ptr<JobEngine> engine;
  void Make() {
    engine =
        std::make_unique<JobEngine>(options, JobEngine::Deps{&queue, &runner, &clock, &random, {}});
  }
};

TEST(JobEngine, RetryIsRescheduledWithBackoffAndNotClaimedEarly) {
  EngineFixture f;
  f.options.backoff = {1000ms, 60s};
  f.Make();
  f.queue.jobs[1] = {};
  f.runner.script = {StepResult::Retry(common::PacsBusyError("busy"))};
  ASSERT_TRUE(*f.engine->RunOnceForTest());
  EXPECT_EQ(f.queue.jobs[1].error, "pacs_busy: busy");
  // Attempt 1 waits 500 ms (low jitter): not due after 499 ms, due after 500 ms.
  f.clock.Advance(499ms);
  EXPECT_FALSE(*f.engine->RunOnceForTest());
  f.clock.Advance(1ms);
  EXPECT_TRUE(*f.engine->RunOnceForTest());
  EXPECT_EQ(f.runner.calls, 2);
}

TEST(JobEngine, GivesUpAfterMaxAttemptsWithLastReason) {
  EngineFixture f;
  f.options.max_attempts = 3;
  f.Make();
  f.queue.jobs[1] = {};
  f.runner.script = {StepResult::Retry(common::UnavailableError("relay down"))};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(*f.engine->RunOnceForTest());
    f.clock.Advance(10min);
  }
  EXPECT_TRUE(f.queue.jobs[1].failed);
  EXPECT_NE(f.queue.jobs[1].error.find("relay down"), std::string::npos);
  EXPECT_NE(f.queue.jobs[1].error.find("gave up after 3 attempts"), std::string::npos);
}

TEST(JobEngine, WaitAndDoneResetAttempts) {
  EngineFixture f;
  f.options.max_attempts = 2;
  f.Make();
  f.queue.jobs[1] = {};
  f.runner.script = {StepResult::Wait(5s)};
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(*f.engine->RunOnceForTest());
    f.clock.Advance(5s);
  }
  EXPECT_FALSE(f.queue.jobs[1].failed);
  EXPECT_EQ(f.queue.jobs[1].attempts, 0);
}

TEST(JobEngine, FailedIsFinal) {
  EngineFixture f;
  f.Make();
  f.queue.jobs[1] = {};
  f.runner.script = {StepResult::Failed(common::DeidentificationRefusedError("burned-in text"))};
  ASSERT_TRUE(*f.engine->RunOnceForTest());
  EXPECT_TRUE(f.queue.jobs[1].failed);
  EXPECT_FALSE(*f.engine->RunOnceForTest());
}

TEST(JobEngine, WorkersDrainTheQueueAndStop) {
  EngineFixture f;
  f.options.idle_poll = 10ms;
  for (int i = 1; i <= 20; ++i) f.queue.jobs[i] = {};
  // MemoryQueue is not thread-safe: one worker.
  f.options.workers = 1;
  f.Make();
  f.runner.script = {StepResult::Failed(common::InternalError("done"))};
  f.engine->Start();
  for (int i = 0; i < 500 && f.runner.calls < 20; ++i) {
    std::this_thread::sleep_for(2ms);
  }
  f.engine->Stop();
  EXPECT_EQ(f.runner.calls, 20);
}

}  // namespace
}  // namespace tsunagu::jobs
