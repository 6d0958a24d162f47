// Snapshots: an aggregate's state at a stream version, kept beside the log so that a fetch reads
// the newest snapshot and only the events after it.
//
// A snapshot is a cache, never the truth: it lives outside the log (a file of its own beside the
// embedded store, items of their own on DynamoDB), is not archived, and may be lost, damaged or
// dropped at any time without losing anything: the repository then rebuilds the aggregate from
// its events and writes a new snapshot (repository.h). A snapshot is used only when its state's
// schema version is the code's and the stream still holds, at the snapshot's version, the event
// it was taken after (a store replaced under an old snapshot store is not trusted).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evs/clock.h"
#include "evs/status.h"
#include "evs/uuid.h"

namespace evs {

// An aggregate's state after one version of its stream, as a SnapshotStore keeps it.
struct Snapshot {
  std::string stream_id;    // the aggregate's stream
  int64_t version = 0;      // the stream version whose state this is (>= 1)
  Uuid last_event_id;       // the id of the event at `version`, checked on use
  int schema_version = 1;   // the version of the state's own shape (the aggregate's)
  std::string state;        // the state as the application serialised it (JSON text)
  int64_t taken_at_us = 0;  // when it was saved, by the snapshot store's clock
};

// Where snapshots are kept: at most one per stream, the newest saved. Thread-safe.
class SnapshotStore {
 public:
  virtual ~SnapshotStore() = default;

  // The stream's snapshot, or nullopt when it has none. kCorruption, naming the stream, for a
  // kept snapshot that no Save wrote (damaged; Drop removes it).
  virtual Result<std::optional<Snapshot>> Load(const std::string& stream_id) = 0;
  // Keeps `snapshot` as its stream's snapshot, unless the one kept is at a higher stream version.
  // `taken_at_us` is set by the store. An older snapshot is not kept, without an error.
  // kInvalidArgument for a stream id that is empty or not UTF-8, a version below 1 or a state
  // that is not JSON; kLimitExceeded for a state over kMaxSnapshotBytes. Errors about the version
  // or the state name the stream.
  virtual Status Save(const Snapshot& snapshot) = 0;
  // Snapshots (with their states) of streams whose id starts with `prefix`, in stream id order,
  // after `after_stream` (to page, pass the last stream id of the page before), at most `limit`.
  virtual Result<std::vector<Snapshot>> List(const std::string& prefix,
                                             const std::string& after_stream, size_t limit) = 0;
  // Drops the snapshot of `stream_id`, or (empty) every snapshot. Returns how many were dropped.
  virtual Result<int64_t> Drop(const std::string& stream_id) = 0;
};

// The largest serialised state a snapshot store keeps (DynamoDB items stop at 400 KB).
inline constexpr size_t kMaxSnapshotBytes = 350'000;

// Snapshots in memory, lost with the process. Null clock: SystemClock().
std::unique_ptr<SnapshotStore> NewMemorySnapshotStore(std::shared_ptr<Clock> clock = nullptr);

// How OpenSqliteSnapshotStore opens its file.
struct SqliteSnapshotStoreOptions {
  // When snapshots are saved, by this clock. Null: SystemClock().
  std::shared_ptr<Clock> clock;
};

// Snapshots in a SQLite file of their own (created when absent). By convention the embedded store
// at P keeps them at SnapshotPathFor(P); deleting that file loses nothing. Any number of
// processes may open it.
Result<std::unique_ptr<SnapshotStore>> OpenSqliteSnapshotStore(
    const std::string& path, SqliteSnapshotStoreOptions options = {});

// "<store_path>-snapshots": where the tools (evs snapshots, evs serve, evs cart) keep the snapshots
// of the embedded store at `store_path`.
std::string SnapshotPathFor(const std::string& store_path);

}  // namespace evs
