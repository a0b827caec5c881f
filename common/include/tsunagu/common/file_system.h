// FileSystem: the file operations Tsunagu needs to be crash-safe, behind an interface so tests can
// fill the disk or fail a rename (leveldb's Env / SpecialEnv).
#ifndef TSUNAGU_COMMON_FILE_SYSTEM_H_
#define TSUNAGU_COMMON_FILE_SYSTEM_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "tsunagu/common/result.h"
#include "tsunagu/common/status.h"

namespace tsunagu::common {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Writes `data` to `path` so that after a crash `path` holds either its old content (or does
  // not exist) or all of `data`: a temporary file in the same directory, fsync, rename, fsync of
  // the directory. `mode` is the new file's permission bits. Errors: kDiskFull when the device
  // is full, kPermissionDenied, kInternal.
  virtual Status WriteAtomically(const std::filesystem::path& path, std::string_view data,
                                 std::filesystem::perms mode) = 0;
  // Reads a whole file. kNotFound when it does not exist.
  virtual Result<std::string> ReadFile(const std::filesystem::path& path) = 0;
  // Atomically renames `from` to `to` (same file system) and fsyncs `to`'s directory.
  virtual Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // Removes a file; OK when it did not exist.
  virtual Status Remove(const std::filesystem::path& path) = 0;
  // Creates `path` and its parents with mode 0700 where missing.
  virtual Status CreateDirectories(const std::filesystem::path& path) = 0;
  // Bytes available to an unprivileged user on the file system holding `path`.
  virtual Result<std::uint64_t> FreeSpace(const std::filesystem::path& path) = 0;
};

// The local POSIX file system. Thread-safe.
class LocalFileSystem final : public FileSystem {
 public:
  Status WriteAtomically(const std::filesystem::path& path, std::string_view data,
                         std::filesystem::perms mode) override;
  Result<std::string> ReadFile(const std::filesystem::path& path) override;
  Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) override;
  Status Remove(const std::filesystem::path& path) override;
  Status CreateDirectories(const std::filesystem::path& path) override;
  Result<std::uint64_t> FreeSpace(const std::filesystem::path& path) override;
};

// fsyncs the directory `dir` so that a rename or create inside it is durable.
Status SyncDirectory(const std::filesystem::path& dir);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_FILE_SYSTEM_H_
