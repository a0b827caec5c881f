// Private: checks on the files a configuration names, reported against the key that names them.
#ifndef TSUNAGU_CONFIG_SRC_FILE_CHECKS_H_
#define TSUNAGU_CONFIG_SRC_FILE_CHECKS_H_

#include <filesystem>
#include <string_view>

#include "toml_reader.h"

namespace tsunagu::config::internal {

// A secret (key, token, site secret): must exist, be a regular file, and not be accessible by
// other users (see common::CheckSecretFilePermissions).
void CheckSecretFile(Errors& errors, std::string_view key_path, const std::filesystem::path& path);

// A file that must exist and be readable (certificates, CA bundles).
void CheckReadableFile(Errors& errors, std::string_view key_path,
                       const std::filesystem::path& path);

}  // namespace tsunagu::config::internal

#endif  // TSUNAGU_CONFIG_SRC_FILE_CHECKS_H_
