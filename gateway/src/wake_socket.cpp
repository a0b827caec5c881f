#include "wake_socket.h"

#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tsunagu::gateway {
namespace {

// The socket address of `path`, or false when it does not fit in sun_path.
bool AddressOf(const std::filesystem::path& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  const std::string& s = path.native();
  if (s.empty() || s.size() >= sizeof(addr->sun_path)) return false;
  std::memcpy(addr->sun_path, s.data(), s.size());
  return true;
}

}  // namespace

common::Result<std::unique_ptr<WakeListener>> WakeListener::Start(const std::filesystem::path& path,
                                                                  std::function<void()> on_wake) {
  sockaddr_un addr;
  if (!AddressOf(path, &addr)) {
    return common::InvalidArgumentError("the wake socket path is too long for a UNIX socket");
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return common::StatusFromErrno(errno, "create the wake socket");
  // A service killed with -9 leaves its socket file behind. (Were a second service started on
  // the same data directory, the first would only lose its rings and fall back to polling.)
  (void)::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    ::close(fd);
    return common::StatusFromErrno(err, "bind the wake socket");
  }
  // The loop checks for Stop at least this often.
  timeval tv{0, 500 * 1000};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return std::unique_ptr<WakeListener>(new WakeListener(fd, path, std::move(on_wake)));
}

WakeListener::WakeListener(int fd, std::filesystem::path path, std::function<void()> on_wake)
    : fd_(fd), path_(std::move(path)), on_wake_(std::move(on_wake)) {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "tsu-wake");
    Loop();
  });
}

WakeListener::~WakeListener() {
  stop_ = true;
  thread_.join();
  ::close(fd_);
  (void)::unlink(path_.c_str());
}

void WakeListener::Loop() {
  char buf[16];
  while (!stop_) {
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n >= 0 && !stop_) on_wake_();
  }
}

void RingWake(const std::filesystem::path& path) {
  sockaddr_un addr;
  if (!AddressOf(path, &addr)) return;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return;
  const char one = 1;
  (void)::sendto(fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr),
                 sizeof(addr));
  ::close(fd);
}

}  // namespace tsunagu::gateway
