// Private: the web viewer's render cache. Two layers, both per study:
//  - memory: the most recently used renders (JPEG frames, thumbnails, the summary), plaintext in
//    the relay's memory only, bounded in bytes, dropped when the study expires;
//  - the store: StudyStore::PutDerived, encrypted with the study's key in the study's directory,
//    so a purge (crypto-shredding) destroys it with the study.
// A miss in memory looks in the store; Put writes memory and, when asked, the store.
//
// Thread-safety: all methods may be called concurrently.
#ifndef TSUNAGU_RELAY_SRC_RENDER_CACHE_H_
#define TSUNAGU_RELAY_SRC_RENDER_CACHE_H_

#include <chrono>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "tsunagu/retention/study_store.h"

namespace tsunagu::relay {

class RenderCache {
 public:
  struct Counters {
    std::uint64_t memory_hits = 0;
    std::uint64_t store_hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t stored = 0;  // successful PutDerived calls
    std::size_t entries = 0;   // held in memory now
  };

  RenderCache(std::shared_ptr<retention::StudyStore> store, std::size_t memory_bytes);

  // The bytes cached as `name` for the study, or null. `expires_at` is the study's expiry (a
  // store hit is kept in memory until then). Without `ask_store`, only the memory layer is
  // looked at (for a name the caller knows was never persisted: a store miss costs a database
  // query and a file system lookup).
  std::shared_ptr<const std::string> Get(const std::string& study_uid, const std::string& name,
                                         std::chrono::system_clock::time_point expires_at,
                                         bool ask_store = true);
  // Caches `bytes` as `name`; with `persist`, also in the store (errors there only mean the entry
  // is not persisted: a cache never fails a request).
  void Put(const std::string& study_uid, const std::string& name,
           std::shared_ptr<const std::string> bytes,
           std::chrono::system_clock::time_point expires_at, bool persist);
  // Drops the memory entries of studies expired at `now`.
  void DropExpired(std::chrono::system_clock::time_point now);

  Counters counters() const;

 private:
  struct Entry {
    std::shared_ptr<const std::string> bytes;
    std::chrono::system_clock::time_point expires_at;
    std::list<std::string>::iterator lru;
  };
  void InsertLocked(const std::string& key, std::shared_ptr<const std::string> bytes,
                    std::chrono::system_clock::time_point expires_at);

  const std::shared_ptr<retention::StudyStore> store_;
  const std::size_t memory_bytes_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // GUARDED_BY(mu_), key: study '\0' name
  std::list<std::string> lru_;            // GUARDED_BY(mu_), most recent first
  std::size_t bytes_ = 0;                 // GUARDED_BY(mu_)
  Counters counters_;                     // GUARDED_BY(mu_)
};

}  // namespace tsunagu::relay

#endif  // TSUNAGU_RELAY_SRC_RENDER_CACHE_H_
