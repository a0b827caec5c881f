// A read-only view of the relay's study index for operators (`tsunagu-relay studies`, issue 11):
// studies by expiry with their size, links and last access, quota use, and recent deletion
// receipts. Opens index.sqlite read-only, so it is safe while the relay runs. Holds no patient
// identifier: the index holds only de-identified study UIDs, thread names and counts.
#ifndef TSUNAGU_RETENTION_INDEX_REPORT_H_
#define TSUNAGU_RETENTION_INDEX_REPORT_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tsunagu/common/result.h"
#include "tsunagu/retention/study_store.h"

namespace tsunagu::retention {

struct StudySummary {
  std::string study_uid;  // de-identified
  std::string state;      // "committed" or "uploading"
  std::string thread;
  TimePoint created_at;
  std::optional<TimePoint> expires_at;  // committed studies
  std::uint64_t instances = 0;          // committed instances
  std::uint64_t stored_bytes = 0;       // encrypted bytes on disk, uploads in progress included
  int links = 0;                        // links neither revoked nor expired
  std::optional<TimePoint> last_access;
};

struct IndexReport {
  std::vector<StudySummary> studies;      // committed by expiry (soonest first), then uploading
  std::uint64_t used_bytes = 0;           // what the quota counts
  std::vector<DeletionReceipt> receipts;  // most recent first
};

// Reads data_directory/index.sqlite. kNotFound when there is no index yet.
common::Result<IndexReport> ReadIndexReport(const std::filesystem::path& data_directory,
                                            TimePoint now, std::size_t max_receipts = 20);

}  // namespace tsunagu::retention

#endif  // TSUNAGU_RETENTION_INDEX_REPORT_H_
