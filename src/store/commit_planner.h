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
#include <memory>
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

// A stream's number (dense, assigned when its first append is planned; the embedded store keys
// its index on it because small integer keys keep index pages few), its version, and its
// lifecycle (deletes and metadata), which appends and reads are decided by.
struct StreamHead {
  int64_t number = 0;
  int64_t version = 0;
  int64_t deleted_through = 0;  // soft delete: versions up to here read as deleted
  bool hard_deleted = false;
  std::shared_ptr<const StreamMetadata> metadata;  // null: none set

  bool SoftDeleted() const { return deleted_through > 0 && deleted_through == version; }
  // Reads as not found or deleted: soft-deleted with nothing appended since, or hard-deleted.
  bool Deleted() const { return hard_deleted || SoftDeleted(); }
  bool operator==(const StreamHead&) const = default;
};

// Whether an append or delete expecting `expected` may go on a stream at `head`: a soft-deleted
// stream reads as not found, so it matches what a missing stream matches (no-stream, any) and its
// actual version; not "exists". (A hard-deleted stream is refused before this is asked.)
bool MatchesLifecycle(const ExpectedVersion& expected, const StreamHead& head);
// kStreamDeleted for an append, metadata or delete on a hard-deleted stream.
Error HardDeletedError(std::string_view stream);

// A change to a stream's lifecycle, planned in a batch like an append.
struct LifecycleChange {
  enum class Kind { kSetMetadata, kSoftDelete, kHardDelete };
  Kind kind = Kind::kSetMetadata;
  std::shared_ptr<const StreamMetadata> metadata;  // kSetMetadata
};

// The durable head of every stream, readable concurrently with the writer.
class StreamHeads {
 public:
  // The stream's version; 0 when it has no durable event.
  int64_t Get(std::string_view stream) const { return Find(stream).version; }
  // Number 0 and version 0 when the stream has no durable event.
  StreamHead Find(std::string_view stream) const;
  void Set(std::string_view stream, StreamHead head);

 private:
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, StreamHead, StringHash, std::equal_to<>> heads;
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
    std::string_view stream, int64_t stream_number, int64_t first_version, size_t count)>;

struct AppendDecision {
  enum class Kind { kWrite, kDuplicate, kFail };
  Kind kind = Kind::kFail;
  AppendResult result;  // kWrite: versions and positions to write; kDuplicate: the original's
  std::optional<Error> error;
  int64_t stream_number = 0;  // kWrite: the stream's number
  bool new_stream = false;    // kWrite: this append creates the stream
};

// The head each stream reached in one batch: what becomes visible once it is durable.
using BatchHeads = std::vector<std::pair<std::string, StreamHead>>;

// Decides the appends of a writer's batches. The life of a batch:
//   Plan() for each append; then, once SQLite committed it, Seal(), or Discard() if it did not;
//   once the batch is durable, Publish() (any thread) makes its heads visible, then Settled()
//   (writer thread) drops what the writer kept of it.
// Batches may be sealed while earlier ones are not durable yet (the writer works on the next
// batch during the previous one's fsync); decisions see every sealed batch.
class CommitPlanner {
 public:
  // `recent_ids` bounds how many recent event ids are remembered for idempotent retries.
  explicit CommitPlanner(size_t recent_ids) : recent_capacity_(recent_ids) {}

  const StreamHeads& Heads() const { return heads_; }

  // Used while opening a store, before any Plan().
  void LoadHead(std::string_view stream, StreamHead head);
  // Remembers an event id of the log; call oldest first, after LoadHead() of its stream.
  void LoadRecentId(const Uuid& id, std::string_view stream, int64_t version, int64_t position);

  // Decides one append of the current batch. Written events take positions from
  // `next_position` on. Later appends see the versions this one takes.
  AppendDecision Plan(std::string_view stream, const ExpectedVersion& expected,
                      const std::vector<EventData>& events, int64_t next_position,
                      const IdsAtVersions& ids_at);

  // Decides a lifecycle change of the current batch against `expected` (deletes; metadata is
  // set whatever the version). kWrite carries the stream's number (new_stream when it had
  // none); the stream's new head is what head_after() then returns.
  AppendDecision PlanChange(std::string_view stream, const ExpectedVersion& expected,
                            const LifecycleChange& change);
  // The stream's head as decided so far (writer thread).
  StreamHead Current(std::string_view stream) const;

  // The current batch is committed (not yet durable): returns its heads for Publish().
  BatchHeads Seal();
  // The current batch was not written: forget what it planned.
  void Discard();
  // A sealed batch is durable: its heads become visible to Heads(). Thread-safe.
  void Publish(const BatchHeads& heads);
  // Writer thread, after Publish(heads): forgets the batch's heads it kept for decisions.
  void Settled(const BatchHeads& heads);

 private:
  struct Location {
    int64_t stream_number;
    int64_t version;
    int64_t position;
  };
  void SetUnsettled(std::string_view stream, StreamHead next);
  void Remember(const Uuid& id, int64_t stream_number, int64_t version, int64_t position);
  void ForgetOldestIds();
  std::optional<AppendDecision> CheckKnownIds(int64_t stream_number,
                                              const ExpectedVersion& expected,
                                              const std::vector<EventData>& events) const;

  StreamHeads heads_;
  // Heads of sealed batches not yet settled, and of the current batch.
  std::unordered_map<std::string, StreamHead, StringHash, std::equal_to<>> unsettled_heads_;
  // The current batch: each stream it changed, with the unsettled head it had before.
  std::vector<std::pair<std::string, std::optional<StreamHead>>> batch_undo_;
  int64_t next_stream_number_ = 1;
  int64_t batch_first_stream_number_ = 1;
  size_t recent_capacity_;
  std::unordered_map<Uuid, Location, UuidHash> recent_;
  std::deque<Uuid> recent_order_;
  size_t batch_ids_ = 0;
};

}  // namespace evs::store
