// Secrets (keys, tokens, the site secret) live in files whose permissions are checked before use.
#ifndef TSUNAGU_COMMON_SECRET_FILE_H_
#define TSUNAGU_COMMON_SECRET_FILE_H_

#include <filesystem>
#include <string>

#include "tsunagu/common/result.h"

namespace tsunagu::common {

// Checks that `path` is a regular file that other users cannot read or write and that its group
// cannot write (group read is allowed, for a service group such as ssl-cert). Errors:
// kNotFound, kPermissionDenied with a message naming the path, its mode and the fix
// ("chmod 600 PATH"). Never includes the file's content.
Status CheckSecretFilePermissions(const std::filesystem::path& path);

// CheckSecretFilePermissions, then reads the file. Trailing newlines are removed. An empty
// secret is kInvalidArgument.
Result<std::string> ReadSecretFile(const std::filesystem::path& path);

}  // namespace tsunagu::common

#endif  // TSUNAGU_COMMON_SECRET_FILE_H_
