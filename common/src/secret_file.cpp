#include "tsunagu/common/secret_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "tsunagu/common/file_system.h"

namespace tsunagu::common {

Status CheckSecretFilePermissions(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFoundError(path.string() + " does not exist");
    return StatusFromErrno(errno, "stat " + path.string());
  }
  if (!S_ISREG(st.st_mode)) return InvalidArgumentError(path.string() + " is not a regular file");
  const unsigned mode = st.st_mode & 07777;
  if ((mode & (S_IROTH | S_IWOTH | S_IWGRP)) != 0) {
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    const char* who = (mode & (S_IROTH | S_IWOTH)) != 0 ? "other users" : "its group";
    return PermissionDeniedError(path.string() + " is accessible by " + who + " (mode " + octal +
                                 "); run: chmod 600 " + path.string());
  }
  return Status::Ok();
}

Result<std::string> ReadSecretFile(const std::filesystem::path& path) {
  TSUNAGU_RETURN_IF_ERROR(CheckSecretFilePermissions(path));
  LocalFileSystem fs;
  TSUNAGU_ASSIGN_OR_RETURN(std::string content, fs.ReadFile(path));
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
    content.pop_back();
  }
  if (content.empty()) return InvalidArgumentError(path.string() + " is empty");
  return content;
}

}  // namespace tsunagu::common
