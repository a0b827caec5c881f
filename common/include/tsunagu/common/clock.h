// Clock: the only way Tsunagu code reads time, so tests can replace sleeps with FakeClock::Advance
// (as Envoy's TimeSource). Retention, backoff and link expiry must read time through a Clock.
#ifndef TSUNAGU_COMMON_CLOCK_H_
#define TSUNAGU_COMMON_CLOCK_H_

#include <chrono>
#include <mutex>

namespace tsunagu::common {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time: for timestamps that are stored or shown (expiry, receipts, audit).
  virtual std::chrono::system_clock::time_point SystemNow() const = 0;
  // Monotonic time: for measuring intervals and deadlines within one process.
  virtual std::chrono::steady_clock::time_point SteadyNow() const = 0;
};

// The real clocks. Thread-safe.
class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point SystemNow() const override;
  std::chrono::steady_clock::time_point SteadyNow() const override;
};

// A clock that moves only when told to. Thread-safe. Starts at `start` (system) and at an
// arbitrary steady epoch.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(
      std::chrono::system_clock::time_point start =
          std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)));

  std::chrono::system_clock::time_point SystemNow() const override;
  std::chrono::steady_clock::time_point SteadyNow() const override;

  // Moves both clocks forward by `d` (which must not be negative).
  void Advance(std::chrono::nanoseconds d);
  // Sets the wall clock (it may jump backwards, as NTP can); the steady clock is unchanged.
  void SetSystemTime(std::chrono::system_clock::time_point t);

 private:
  mutable std::mutex mu_;
  std::chrono::system_clock::time_point system_;  // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point steady_;  // GUARDED_BY(mu_)
};

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_CLOCK_H_
