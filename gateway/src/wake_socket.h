// Private (used by main.cpp). A wake-up doorbell between `tsunagu-gateway send` (another process)
// and the service: a datagram UNIX socket in the data directory. The send command queues its job in
// the job store and rings; the service's engine claims the job at once instead of at its next idle
// poll (up to 200 ms later). Only a hint: nothing is read from the datagram, a lost or refused ring
// only costs that poll's latency, and the job store stays the only record of work.
#ifndef TSUNAGU_GATEWAY_SRC_WAKE_SOCKET_H_
#define TSUNAGU_GATEWAY_SRC_WAKE_SOCKET_H_

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "tsunagu/common/result.h"

namespace tsunagu::gateway {

class WakeListener {
 public:
  // Binds `path` (a stale socket left by a killed service is replaced) and calls `on_wake` on
  // its own thread for each datagram. Fails when the path is too long for a UNIX socket or
  // cannot be bound; the caller then relies on polling.
  static common::Result<std::unique_ptr<WakeListener>> Start(const std::filesystem::path& path,
                                                             std::function<void()> on_wake);
  // Stops the thread (within 0.5 s) and removes the socket file.
  ~WakeListener();
  WakeListener(const WakeListener&) = delete;
  WakeListener& operator=(const WakeListener&) = delete;

 private:
  WakeListener(int fd, std::filesystem::path path, std::function<void()> on_wake);
  void Loop();

  const int fd_;
  const std::filesystem::path path_;
  const std::function<void()> on_wake_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Rings the service listening on `path`, if any; never blocks and never fails (a service that is
// not running, or an old one without the socket, finds the job at its next poll).
void RingWake(const std::filesystem::path& path);

}  // namespace tsunagu::gateway

#endif  // TSUNAGU_GATEWAY_SRC_WAKE_SOCKET_H_
