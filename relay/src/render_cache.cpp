#include "render_cache.h"

namespace tsunagu::relay {

RenderCache::RenderCache(std::shared_ptr<retention::StudyStore> store, std::size_t memory_bytes)
    : store_(std::move(store)), memory_bytes_(memory_bytes) {}

std::shared_ptr<const std::string> RenderCache::Get(
    const std::string& study_uid, const std::string& name,
    std::chrono::system_clock::time_point expires_at, bool ask_store) {
  const std::string key = study_uid + '\0' + name;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      ++counters_.memory_hits;
      return it->second.bytes;
    }
    if (!ask_store) {
      ++counters_.misses;
      return nullptr;
    }
  }
  auto stored = store_->GetDerived(study_uid, name);
  std::lock_guard lock(mu_);
  if (!stored.ok()) {
    ++counters_.misses;
    return nullptr;
  }
  ++counters_.store_hits;
  auto bytes = std::make_shared<const std::string>(std::move(*stored));
  InsertLocked(key, bytes, expires_at);
  return bytes;
}

void RenderCache::Put(const std::string& study_uid, const std::string& name,
                      std::shared_ptr<const std::string> bytes,
                      std::chrono::system_clock::time_point expires_at, bool persist) {
  if (!bytes) return;
  if (persist && store_->PutDerived(study_uid, name, *bytes).ok()) {
    std::lock_guard lock(mu_);
    ++counters_.stored;
  }
  std::lock_guard lock(mu_);
  InsertLocked(study_uid + '\0' + name, std::move(bytes), expires_at);
}

void RenderCache::InsertLocked(const std::string& key, std::shared_ptr<const std::string> bytes,
                               std::chrono::system_clock::time_point expires_at) {
  if (bytes->size() > memory_bytes_ / 4) return;
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    bytes_ -= it->second.bytes->size();
    lru_.erase(it->second.lru);
    entries_.erase(it);
  }
  lru_.push_front(key);
  bytes_ += bytes->size();
  entries_.emplace(key, Entry{std::move(bytes), expires_at, lru_.begin()});
  while (bytes_ > memory_bytes_ && !lru_.empty()) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.bytes->size();
    entries_.erase(victim);
    lru_.pop_back();
  }
}

void RenderCache::DropExpired(std::chrono::system_clock::time_point now) {
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.expires_at <= now) {
      bytes_ -= it->second.bytes->size();
      lru_.erase(it->second.lru);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

RenderCache::Counters RenderCache::counters() const {
  std::lock_guard lock(mu_);
  Counters c = counters_;
  c.entries = entries_.size();
  return c;
}

}  // namespace tsunagu::relay
