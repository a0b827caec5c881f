#include "tsunagu/common/process.h"

#include <signal.h>

#include <cerrno>
#include <ctime>

#include "tsunagu/common/version.h"

namespace tsunagu::common {
namespace {

sigset_t ServiceSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

}  // namespace

std::string_view Version() { return kTsunaguVersion; }

void BlockServiceSignals() {
  sigset_t set = ServiceSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

std::optional<int> WaitForSignal(std::chrono::milliseconds timeout) {
  sigset_t set = ServiceSignals();
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1'000'000);
  for (;;) {
    const int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return sig;
    if (errno == EINTR) continue;
    return std::nullopt;
  }
}

}  // namespace tsunagu::common
