#include "tsunagu/common/clock.h"

namespace tsunagu::common {

std::chrono::system_clock::time_point SystemClock::SystemNow() const {
  return std::chrono::system_clock::now();
}

std::chrono::steady_clock::time_point SystemClock::SteadyNow() const {
  return std::chrono::steady_clock::now();
}

FakeClock::FakeClock(std::chrono::system_clock::time_point start)
    : system_(start), steady_(std::chrono::hours(1)) {}

std::chrono::system_clock::time_point FakeClock::SystemNow() const {
  std::lock_guard lock(mu_);
  return system_;
}

std::chrono::steady_clock::time_point FakeClock::SteadyNow() const {
  std::lock_guard lock(mu_);
  return steady_;
}

void FakeClock::Advance(std::chrono::nanoseconds d) {
  if (d.count() < 0) d = std::chrono::nanoseconds(0);
  std::lock_guard lock(mu_);
  system_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(d);
  steady_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d);
}

void FakeClock::SetSystemTime(std::chrono::system_clock::time_point t) {
  std::lock_guard lock(mu_);
  system_ = t;
}

}  // namespace tsunagu::common
