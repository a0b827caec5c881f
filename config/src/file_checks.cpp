#include "file_checks.h"

#include <unistd.h>

#include "tsunagu/common/secret_file.h"

namespace tsunagu::config::internal {

void CheckSecretFile(Errors& errors, std::string_view key_path, const std::filesystem::path& path) {
  if (path.empty()) return;  // "required" is reported by the parser
  const common::Status status = common::CheckSecretFilePermissions(path);
  if (!status.ok()) errors.Add(key_path, status.message());
}

void CheckReadableFile(Errors& errors, std::string_view key_path,
                       const std::filesystem::path& path) {
  if (path.empty()) return;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    errors.Add(key_path, path.string() + " does not exist or is not a regular file");
  } else if (::access(path.c_str(), R_OK) != 0) {
    errors.Add(key_path, path.string() + " is not readable");
  }
}

}  // namespace tsunagu::config::internal
