#include "tsunagu/jobs/job_engine.h"

#include <pthread.h>

#include <algorithm>
#include <cmath>

namespace tsunagu::jobs {

double SeededRandom::Uniform() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
}

milliseconds BackoffPolicy::Delay(int attempt, Random& random) const {
  const int n = std::clamp(attempt, 1, 40);
  const double full = std::min(static_cast<double>(cap.count()),
                               static_cast<double>(base.count()) * std::pow(2.0, n - 1));
  const double jittered = full / 2 + random.Uniform() * (full / 2);
  return milliseconds(static_cast<std::int64_t>(jittered));
}

JobEngine::JobEngine(EngineOptions options, Deps deps)
    : options_(std::move(options)), deps_(std::move(deps)) {}

JobEngine::~JobEngine() { Stop(); }

void JobEngine::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = false;
  for (int i = 0; i < options_.workers; ++i) {
    threads_.emplace_back([this] {
      ::pthread_setname_np(::pthread_self(), "tsu-engine");
      WorkerLoop();
    });
  }
}

void JobEngine::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void JobEngine::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

common::Result<bool> JobEngine::RunOne() {
  const auto now = deps_.clock->SystemNow();
  TSUNAGU_ASSIGN_OR_RETURN(std::optional<Lease> lease,
                           deps_.queue->Claim(options_.owner, now, options_.lease_for));
  if (!lease) return false;
  StepResult result = deps_.runner->RunStep(*lease);
  if (result.kind() == StepResult::Kind::kRetry && lease->attempt >= options_.max_attempts) {
    result = StepResult::Failed(result.status().WithContext(
        "gave up after " + std::to_string(lease->attempt) + " attempts"));
  }
  if (deps_.observer) deps_.observer(*lease, result);
  const auto after_step = deps_.clock->SystemNow();
  switch (result.kind()) {
    case StepResult::Kind::kDone:
      TSUNAGU_RETURN_IF_ERROR(deps_.queue->Release(*lease, after_step, true, common::Status()));
      break;
    case StepResult::Kind::kWait:
      TSUNAGU_RETURN_IF_ERROR(deps_.queue->Release(
          *lease, after_step + result.after().value_or(milliseconds(0)), true, common::Status()));
      break;
    case StepResult::Kind::kRetry: {
      const milliseconds delay =
          result.after().value_or(options_.backoff.Delay(lease->attempt, *deps_.random));
      TSUNAGU_RETURN_IF_ERROR(
          deps_.queue->Release(*lease, after_step + delay, false, result.status()));
      break;
    }
    case StepResult::Kind::kFailed:
      TSUNAGU_RETURN_IF_ERROR(deps_.queue->Fail(*lease, result.status()));
      break;
  }
  return true;
}

void JobEngine::WorkerLoop() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    auto ran = RunOne();
    if (ran.ok() && *ran) continue;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, options_.idle_poll, [this] { return stop_ || woken_; });
    woken_ = false;
  }
}

}  // namespace tsunagu::jobs
