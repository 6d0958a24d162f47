// Snapshots in a map, for tests and the in-memory store.
#include <map>
#include <mutex>

#include "snapshot/validate_snapshot.h"

namespace evs {
namespace {

class MemorySnapshotStore final : public SnapshotStore {
 public:
  explicit MemorySnapshotStore(std::shared_ptr<Clock> clock)
      : clock_(clock ? std::move(clock) : SystemClock()) {}

  Result<std::optional<Snapshot>> Load(const std::string& stream_id) override {
    std::lock_guard guard(mu_);
    auto it = snapshots_.find(stream_id);
    if (it == snapshots_.end()) return std::optional<Snapshot>();
    return std::optional<Snapshot>(it->second);
  }

  Status Save(const Snapshot& snapshot) override {
    if (Status s = snapshot::ValidateSnapshot(snapshot); !s.ok()) return s;
    std::lock_guard guard(mu_);
    auto [it, added] = snapshots_.try_emplace(snapshot.stream_id, snapshot);
    if (!added && it->second.version > snapshot.version) return OkStatus();
    it->second = snapshot;
    it->second.taken_at_us = clock_->NowMicros();
    return OkStatus();
  }

  Result<std::vector<Snapshot>> List(const std::string& prefix, const std::string& after_stream,
                                     size_t limit) override {
    std::lock_guard guard(mu_);
    std::vector<Snapshot> out;
    auto it = after_stream < prefix ? snapshots_.lower_bound(prefix)
                                    : snapshots_.upper_bound(after_stream);
    for (; it != snapshots_.end() && out.size() < limit; ++it) {
      if (it->first.compare(0, prefix.size(), prefix) != 0) break;  // past the prefix's range
      out.push_back(it->second);
    }
    return out;
  }

  Result<int64_t> Drop(const std::string& stream_id) override {
    std::lock_guard guard(mu_);
    if (stream_id.empty()) {
      const auto dropped = static_cast<int64_t>(snapshots_.size());
      snapshots_.clear();
      return dropped;
    }
    return static_cast<int64_t>(snapshots_.erase(stream_id));
  }

 private:
  const std::shared_ptr<Clock> clock_;
  std::mutex mu_;
  std::map<std::string, Snapshot> snapshots_;
};

}  // namespace

std::unique_ptr<SnapshotStore> NewMemorySnapshotStore(std::shared_ptr<Clock> clock) {
  return std::make_unique<MemorySnapshotStore>(std::move(clock));
}

}  // namespace evs
