// The decisions every store makes for an append, in one place so that the backends cannot
// drift: the expected-version check against an authoritative head per stream, idempotent
// retries, and event ids committed twice.
//
// One writer calls Plan() for each append of a batch, then Publish() once the batch is durable
// (or Discard() when it is not). Heads() may be read from any thread.
#pragma once

#include <array>
#include <deque>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "evs/event_store.h"

namespace evs::store {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// The committed version of every stream, readable concurrently with the writer.
class StreamHeads {
 public:
  int64_t Get(std::string_view stream) const;
  void Set(std::string_view stream, int64_t version);

 private:
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> versions;
  };
  Shard& ShardFor(std::string_view stream) const;
  mutable std::array<Shard, 32> shards_;
};

struct CommittedId {
  Uuid id;
  int64_t position = 0;
};

// Reads the ids committed at versions [first_version, first_version + count) of a stream, in
// version order (fewer when the stream is shorter).
using IdsAtVersions = std::function<Result<std::vector<CommittedId>>(
    std::string_view stream, int64_t first_version, size_t count)>;

struct AppendDecision {
  enum class Kind { kWrite, kDuplicate, kFail };
  Kind kind = Kind::kFail;
  AppendResult result;  // kWrite: versions and positions to write; kDuplicate: the original's
  std::optional<Error> error;
};

class CommitPlanner {
 public:
  // `recent_ids` bounds how many recent event ids are remembered for idempotent retries.
  explicit CommitPlanner(size_t recent_ids) : recent_capacity_(recent_ids) {}

  const StreamHeads& Heads() const { return heads_; }

  // Used while opening a store, before any Plan().
  void LoadHead(std::string_view stream, int64_t version) { heads_.Set(stream, version); }
  // Remembers an event id of the log; call oldest first.
  void LoadRecentId(const Uuid& id, std::string_view stream, int64_t version, int64_t position);

  // Decides one append of the current batch. Written events take positions from
  // `next_position` on. Later appends of the same batch see the versions this one takes.
  AppendDecision Plan(std::string_view stream, const ExpectedVersion& expected,
                      const std::vector<EventData>& events, int64_t next_position,
                      const IdsAtVersions& ids_at);

  // The batch is durable: its heads become visible to Heads().
  void Publish();
  // The batch was not written: forget what it planned.
  void Discard();

 private:
  struct Location {
    std::string stream;
    int64_t version;
    int64_t position;
  };
  int64_t Current(std::string_view stream) const;
  void Remember(const Uuid& id, std::string_view stream, int64_t version, int64_t position);
  std::optional<AppendDecision> CheckKnownIds(std::string_view stream,
                                              const ExpectedVersion& expected,
                                              const std::vector<EventData>& events) const;

  StreamHeads heads_;
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> tentative_heads_;
  size_t recent_capacity_;
  std::unordered_map<Uuid, Location, UuidHash> recent_;
  std::deque<Uuid> recent_order_;
  size_t tentative_ids_ = 0;
};

}  // namespace evs::store
