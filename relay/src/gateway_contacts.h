// Private: enrolled gateways' last contact, kept across restarts in
// <data_directory>/gateways.sqlite (issue 11, `tsunagu-relay studies`). The running relay keeps
// the contacts in memory (RelayMetrics) and saves them at most every few seconds; operators read
// the file read-only. Holds certificate common names and times only.
#ifndef TSUNAGU_RELAY_SRC_GATEWAY_CONTACTS_H_
#define TSUNAGU_RELAY_SRC_GATEWAY_CONTACTS_H_

#include <chrono>
#include <filesystem>
#include <map>
#include <string>

#include "tsunagu/common/result.h"
#include "tsunagu/common/sqlite_schema.h"
#include "tsunagu/common/status.h"

namespace tsunagu::relay {

using GatewayContactMap = std::map<std::string, std::chrono::system_clock::time_point>;

// The file's name inside the store's data directory.
inline constexpr char kGatewayContactsFile[] = "gateways.sqlite";

// The file's versioned schema (for `tsunagu-relay backup` / `restore`).
const common::Schema& GatewayContactsSchema();

// Creates or migrates the file and writes `contacts` (a later time replaces an earlier one;
// names not in `contacts` are kept). Errors: the SQLite error as a Status.
common::Status SaveGatewayContacts(const std::filesystem::path& file,
                                   const GatewayContactMap& contacts);

// Reads the file read-only; an empty map when it does not exist yet.
common::Result<GatewayContactMap> ReadGatewayContacts(const std::filesystem::path& file);

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_SRC_GATEWAY_CONTACTS_H_
