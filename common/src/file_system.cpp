#include "tsunagu/common/file_system.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <random>

namespace tsunagu::common {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

std::string TempSuffix() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = ".tmp-";
  std::uint64_t v = rng();
  for (int i = 0; i < 12; ++i) {
    out += kHex[v & 0xf];
    v >>= 4;
  }
  return out;
}

}  // namespace

Status SyncDirectory(const std::filesystem::path& dir) {
  Fd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return StatusFromErrno(errno, "open directory " + dir.string());
  if (::fsync(fd.get()) != 0) return StatusFromErrno(errno, "fsync directory " + dir.string());
  return Status::Ok();
}

Status LocalFileSystem::WriteAtomically(const std::filesystem::path& path, std::string_view data,
                                        std::filesystem::perms mode) {
  const std::filesystem::path tmp = path.string() + TempSuffix();
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
               static_cast<mode_t>(mode) & 07777));
  if (fd.get() < 0) return StatusFromErrno(errno, "create " + tmp.string());
  auto fail = [&](int err, std::string_view what) {
    ::unlink(tmp.c_str());
    return StatusFromErrno(err, std::string(what) + " " + tmp.string());
  };
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, "write");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail(errno, "fsync");
  if (::close(fd.Release()) != 0) return fail(errno, "close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(errno, "rename");
  return SyncDirectory(path.parent_path());
}

Result<std::string> LocalFileSystem::ReadFile(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return StatusFromErrno(errno, "open " + path.string());
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return StatusFromErrno(errno, "read " + path.string());
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Status LocalFileSystem::Rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return StatusFromErrno(errno, "rename " + from.string() + " to " + to.string());
  }
  return SyncDirectory(to.parent_path());
}

Status LocalFileSystem::Remove(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return StatusFromErrno(errno, "remove " + path.string());
  }
  return Status::Ok();
}

Status LocalFileSystem::CreateDirectories(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path partial;
  for (const auto& part : path) {
    partial /= part;
    if (std::filesystem::is_directory(partial, ec)) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return StatusFromErrno(errno, "create directory " + partial.string());
    }
  }
  return Status::Ok();
}

Result<std::uint64_t> LocalFileSystem::FreeSpace(const std::filesystem::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return StatusFromErrno(errno, "statvfs " + path.string());
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

}  // namespace tsunagu::common
