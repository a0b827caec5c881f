// Per-patient threads: every study of one patient goes to the same conversation.
//
// The mapping from patient to room is stored keyed by PatientKey(), an HMAC-SHA-256 under the
// site secret of the issuer and the patient ID, never the ID itself; rooms are named with the
// last 4 characters and a configured label, never the name.
#ifndef TSUNAGU_CHAT_PATIENT_THREADS_H_
#define TSUNAGU_CHAT_PATIENT_THREADS_H_

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tsunagu/chat/connector.h"
#include "tsunagu/common/clock.h"
#include "tsunagu/common/result.h"
#include "tsunagu/common/sqlite_schema.h"

namespace tsunagu::chat {

// Lower-case hex HMAC-SHA-256(site_secret, issuer + U+001F + patient_id). The separator keeps
// ("12", "345") and ("123", "45") apart.
std::string PatientKey(std::string_view site_secret, std::string_view patient_id,
                       std::string_view issuer);

// "<label> …1234" (label trimmed of control characters; suffix at most 4 characters, else it
// is cut to the last 4).
std::string PatientRoomName(std::string_view label, std::string_view patient_id_suffix);

// The store's versioned schema (for `tsunagu-gateway backup` / `restore`, which recognise a
// backup of this store by its marker table).
const common::Schema& PatientThreadStoreSchema();

// The mapping (patient key, thread) -> destination, in its own SQLite table
// `chat_patient_rooms`. Thread-safe.
class PatientThreadStore {
 public:
  // Opens (creating when needed) the database at `path` (":memory:" for tests).
  static common::Result<std::unique_ptr<PatientThreadStore>> Open(const std::filesystem::path& path,
                                                                  const common::Clock* clock);
  virtual ~PatientThreadStore() = default;

  // The destination stored for (patient_key, thread), or nullopt.
  virtual common::Result<std::optional<std::string>> Find(const std::string& patient_key,
                                                          const std::string& thread) = 0;
  // Stores the destination unless one exists already; returns the one that is stored (so two
  // racing creators agree on one room).
  virtual common::Result<std::string> Put(const std::string& patient_key, const std::string& thread,
                                          const std::string& destination) = 0;

  // Moves the mapping (from, thread) to (to, thread) (site-secret rotation: `from` is the key
  // under a retired secret). Nothing happens when (from, thread) is not stored or (to, thread)
  // is stored already.
  virtual common::Status Rekey(const std::string& from, const std::string& to,
                               const std::string& thread) = 0;

  // For administration (`tsunagu-gateway chat rooms`): every mapping, by thread then key.
  struct Mapping {
    std::string patient_key;
    std::string thread;
    std::string destination;
  };
  virtual common::Result<std::vector<Mapping>> List() = 0;
  // Removes the mappings of `thread` whose key starts with `key_prefix` (at least 8 characters,
  // else kInvalidArgument) when exactly one matches; returns how many matched (nothing is removed
  // unless it is 1).
  virtual common::Result<int> Forget(const std::string& thread, const std::string& key_prefix) = 0;
};

struct PatientRoute {
  std::string patient_key;        // PatientKey(...) under the current site secret
  std::string patient_id_suffix;  // last 4, for the room name
  // The same patient's keys under retired site secrets (newest first): a room stored under one
  // of them is used and moved to patient_key.
  std::vector<std::string> previous_patient_keys = {};
};

struct PatientRoomPolicy {
  std::string label;
  std::vector<std::string> invite;
  std::string fallback_destination;  // where the platform cannot create rooms
};

// Resolves the destination of a per-patient thread: the stored room (under the current key, else
// under a previous key, which is then moved to the current one), or a new room created
// through `connector` (and stored), or `policy.fallback_destination` when the connector cannot
// create rooms. Errors are the connector's or the store's.
ChatResult<std::string> ResolvePatientDestination(PatientThreadStore& store,
                                                  ChatConnector& connector,
                                                  const std::string& thread,
                                                  const PatientRoute& route,
                                                  const PatientRoomPolicy& policy);

}  // namespace tsunagu::chat

#endif  // TSUNAGU_CHAT_PATIENT_THREADS_H_
