// A bounded, thread-safe cache of clean aggregates (no pending changes), least recently used
// out first. The repository checks each entry against the store's stream version before use,
// so a stale entry is caught up, never served.
#pragma once

#include <array>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace evs {

// The cache (see above) of aggregates of type T, which is copyable and has id() and version().
// Split by id into 16 shards, each with its own lock and an equal share of the capacity.
template <class T>
class AggregateCache {
 public:
  // `capacity` aggregates in all; 0 disables the cache.
  explicit AggregateCache(size_t capacity) : shard_capacity_((capacity + kShards - 1) / kShards) {}

  // A copy of the cached aggregate, if any.
  std::optional<T> Get(const std::string& id) {
    if (shard_capacity_ == 0) return std::nullopt;
    Shard& shard = ShardFor(id);
    std::lock_guard guard(shard.mu);
    auto it = shard.index.find(id);
    if (it == shard.index.end()) return std::nullopt;
    shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
    return *it->second;
  }

  // Keeps `aggregate` unless a newer version of it is cached already.
  void Put(const T& aggregate) {
    if (shard_capacity_ == 0) return;
    Shard& shard = ShardFor(aggregate.id());
    std::lock_guard guard(shard.mu);
    auto it = shard.index.find(aggregate.id());
    if (it != shard.index.end()) {
      if (it->second->version() <= aggregate.version()) *it->second = aggregate;
      shard.lru.splice(shard.lru.begin(), shard.lru, it->second);
      return;
    }
    shard.lru.push_front(aggregate);
    shard.index.emplace(aggregate.id(), shard.lru.begin());
    if (shard.lru.size() > shard_capacity_) {
      shard.index.erase(shard.lru.back().id());
      shard.lru.pop_back();
    }
  }

  // Drops the aggregate with `id`, if it is cached.
  void Erase(const std::string& id) {
    Shard& shard = ShardFor(id);
    std::lock_guard guard(shard.mu);
    auto it = shard.index.find(id);
    if (it == shard.index.end()) return;
    shard.lru.erase(it->second);
    shard.index.erase(it);
  }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    std::list<T> lru;  // most recently used first
    std::unordered_map<std::string, typename std::list<T>::iterator> index;
  };
  Shard& ShardFor(const std::string& id) { return shards_[std::hash<std::string>{}(id) % kShards]; }

  size_t shard_capacity_;
  std::array<Shard, kShards> shards_;
};

}  // namespace evs
