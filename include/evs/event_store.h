// The event store contract (docs/architecture.md). Every backend keeps it; one contract test suite
// runs against each of them.
//
// Thread safety: every method may be called concurrently from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evs/clock.h"
#include "evs/event.h"
#include "evs/expected_version.h"
#include "evs/file_system.h"
#include "evs/stats.h"
#include "evs/status.h"

namespace evs {

// Limits checked before anything is written. Each violation is a kLimitExceeded or
// kInvalidArgument error that names the limit.
struct Limits {
  size_t max_stream_id_bytes = 256;     // stream ids: non-empty, valid UTF-8, at most this
  size_t max_type_bytes = 256;          // event type names: likewise
  size_t max_event_bytes = 1 << 20;     // type + data + metadata of one event
  size_t max_events_per_append = 1000;  // events in one append
};

// Where an append's events went (for an idempotent retry: where the original append put them).
struct AppendResult {
  int64_t first_version = 0;   // the version of the first event appended
  int64_t last_version = 0;    // the version of the last one: the stream's version after it
  int64_t first_position = 0;  // 0 on backends without a global log
  int64_t last_position = 0;   // likewise
};

// The order in which ReadStream returns a stream's events.
enum class Direction { kForward, kBackward };

// What ReadStream reads: which way, from where, and how much.
struct ReadStreamOptions {
  Direction direction = Direction::kForward;  // kForward: oldest first; kBackward: newest first
  // Forward: the first version to return (1 = the start). Backward: the highest version to
  // return (0 = the end of the stream).
  int64_t from = 0;
  size_t limit = 1000;  // the most events in the page; above 2^24 is kInvalidArgument
};

// One page of a stream. To read on, pass the last event's version + 1 (forward) or - 1
// (backward) as `from`.
struct StreamPage {
  // In the read's direction; only the events that reads return (see StreamMetadata).
  std::vector<RecordedEvent> events;
  int64_t stream_version = 0;  // the stream's last version when the page was read
  bool end_of_stream = false;  // no more events in the read's direction
};

// One page of the global log.
struct LogPage {
  // In position order, with no gaps: scavenged events appear as their markers.
  std::vector<RecordedEvent> events;
  int64_t next_position = 0;  // pass as `after` to read the next page
  int64_t head_position = 0;  // the last committed position when the page was read
};

// Reads the global log page after page, for one thread: the sequential scan that subscriptions
// catch up with (EventStore::NewLogReader). Not thread-safe; must not outlive its store.
class LogReader {
 public:
  virtual ~LogReader() = default;
  // Fills `page` with what ReadLog(after, limit) would return, with the same errors. What `page`
  // held is replaced; its events (and their strings' capacity) are reused, so that a caller who
  // passes the same page each time gets, on the embedded log store, no allocation per event once
  // the strings are large enough. A read whose `after` is the page before's next_position goes
  // on from where that read ended rather than looking the position up again.
  virtual Status Read(int64_t after, size_t limit, LogPage& page) = 0;
};

// A stream as ListStreams lists it.
struct StreamInfo {
  std::string stream_id;  // the stream's id
  int64_t version = 0;    // its last version
};

// What an application sets on a stream to bound what reads return (see "Stream lifecycle" in
// README.md). Reads (ReadStream, and the Repository, HTTP and the CLI through it) return only
// the events inside every bound that is set; the events outside stay in the log until
// Scavenge() reclaims them.
struct StreamMetadata {
  std::optional<int64_t> max_count;        // keep the last N events (N >= 1)
  std::optional<int64_t> max_age_seconds;  // keep events recorded in the last N seconds (N >= 1)
  std::optional<int64_t> truncate_before;  // hide versions below this one (>= 1)
  std::string custom;  // the application's own JSON object (empty: none), at most 64 KiB
};

// A stream's metadata and what has happened to it.
struct StreamLifecycle {
  StreamMetadata metadata;      // as last set (nothing set when never set)
  int64_t version = 0;          // the stream's last version, deleted events included
  int64_t deleted_through = 0;  // soft delete: versions up to this one read as deleted
  bool hard_deleted = false;    // a tombstone: no reads, no appends, ever again
};

// How DeleteStream deletes.
enum class DeleteMode {
  // The stream reads as not found (kNotFound) and is not listed; an append with expected
  // no-stream or any starts it again at the next version (versions never go back), and reads
  // then return only the events after the delete.
  kSoft,
  // A tombstone: reads and appends are kStreamDeleted from then on (HTTP 410).
  kHard,
};

// How far a Scavenge() has got, as ScavengeOptions::progress is told.
struct ScavengeProgress {
  int64_t streams_done = 0;      // streams examined so far, of streams_total
  int64_t streams_total = 0;     // streams with metadata or a delete, the ones examined
  int64_t events_scavenged = 0;  // so far
};

// How Scavenge() goes about it.
struct ScavengeOptions {
  // Events reclaimed per step; writers wait for at most one step (a few ms) at a time, and
  // between steps the writer is left to appends for as long as the step took.
  size_t events_per_step = 100;
  // Called after each step and at the end (any thread).
  std::function<void(const ScavengeProgress&)> progress;
  // Also rewrite a store created before incremental vacuum (a full VACUUM, during which
  // writers wait): for a store that nothing else is using. Such a store's reclaimed pages are
  // otherwise reused by new events but not given back to the file system.
  bool compact = false;
};

// What a Scavenge() did.
struct ScavengeReport {
  // Streams with metadata or a delete: the ones that can hold events to reclaim.
  int64_t streams_examined = 0;
  // Events turned into kScavengedEventType markers.
  int64_t events_scavenged = 0;
  // The size of the store's files when it began (0 for the in-memory store).
  int64_t file_bytes_before = 0;
  // The size of the store's files when it ended (0 for the in-memory store).
  int64_t file_bytes_after = 0;
  bool file_shrinks = true;    // false: a store that needs `compact` to give space back
  double longest_step_ms = 0;  // the longest that one step kept writers waiting
  double seconds = 0;          // how long it took (0 for the in-memory store)
};

// The type a scavenged event's position holds in the log: the stream id, version, position, id
// and time stay, the type becomes this, and data and metadata become "{}". Subscriptions and
// projections skip such events; ReadLog, the archive and HTTP /log show them, so that the
// log's positions stay dense. Appends may not use this type.
inline constexpr std::string_view kScavengedEventType = "$scavenged";

// One page of ListStreams.
struct StreamsPage {
  std::vector<StreamInfo> streams;  // ordered by stream id
  std::string next_after;           // pass as `after` to read the next page; empty at the end
};

// Streams of events, each appended to under an optimistic concurrency check, and on the embedded
// stores one global log of every commit. Errors are values (status.h). Made by
// NewMemoryEventStore, OpenSqliteEventStore(Reader) or OpenDynamoDbEventStore (dynamodb.h).
class EventStore {
 public:
  virtual ~EventStore() = default;

  // Appends `events` to `stream_id` if the stream is at `expected`; all of them or none.
  // Returns only once the commit is durable. Errors: kWrongExpectedVersion (with the actual
  // version), kInvalidArgument, kLimitExceeded, kDuplicateEventId, kIOError, kUnavailable.
  //
  // Idempotent retries: if every event id of `events` is already committed in this stream at
  // the versions the append targets (for any/exists: as the stream's most recent commit of the
  // same ids), the original AppendResult is returned and nothing is written. If only some ids
  // are there, or an id is committed at another place, the append fails with kDuplicateEventId.
  virtual Result<AppendResult> Append(std::string_view stream_id, ExpectedVersion expected,
                                      std::vector<EventData> events) = 0;

  // Receives the outcome of an AppendAsync: what Append would have returned.
  using AppendCallback = std::function<void(Result<AppendResult> result)>;

  // Append without waiting: queues the append and returns; `callback` gets its outcome once the
  // commit is durable (or failed), with the same results, errors and idempotent retries as
  // Append. Any number may be in flight from one thread; on the embedded store they share group
  // commits with blocking appends. The contract:
  // * `callback` is called exactly once.
  // * Where: an append refused up front (invalid arguments, limits, a closing or read-only
  //   store) may be called back on the caller's thread before AppendAsync returns. Otherwise, on
  //   the embedded store, on one of the store's own threads (the one that made the commit
  //   durable): the callback must be short and must not block, throw, or call Append or any
  //   other blocking write of this store (that would wait for the thread it runs on); it may call
  //   AppendAsync and read. Backends without a native one (the in-memory, DynamoDB and read-only
  //   stores: this default) run Append and call back on the caller's thread before returning.
  // * Order: appends that pass the up-front checks complete in the order they were submitted
  //   (for one store), blocking and asynchronous ones alike.
  // * A failed fsync fails every append in flight, as it does blocking ones (see
  //   OpenSqliteEventStore).
  // * Destroying the store first completes every append in flight (each is called back before
  //   the destructor returns); one submitted while the store closes is kUnavailable.
  virtual void AppendAsync(std::string_view stream_id, ExpectedVersion expected,
                           std::vector<EventData> events, AppendCallback callback);

  // Reads one stream in pages. A stream with no events is kNotFound.
  virtual Result<StreamPage> ReadStream(std::string_view stream_id,
                                        const ReadStreamOptions& options) = 0;

  // Reads the global log: events with position > `after`, in position order, at most `limit`.
  // Never returns a position before an earlier one is visible. kUnsupported on backends without
  // a global log.
  virtual Result<LogPage> ReadLog(int64_t after, size_t limit) = 0;

  // A reader of the global log for one thread (see LogReader). The default reads through
  // ReadLog (a new page each time); the log store's scans its segments with one buffer and decodes
  // into the caller's page.
  virtual std::unique_ptr<LogReader> NewLogReader();

  // Streams with id > `after`, ordered by id, at most `limit`.
  virtual Result<StreamsPage> ListStreams(std::string_view after, size_t limit) = 0;

  // The version of one stream (0 when it has no events, or is deleted and has had none since).
  // Cheap on the embedded stores: it is answered from memory, so caches may call it on every
  // read.
  virtual Result<int64_t> StreamVersion(std::string_view stream_id) = 0;

  // The last committed global position (0 for an empty log).
  virtual Result<int64_t> HeadPosition() = 0;

  // Waits until the log's head position is past `after` or `timeout` passes, and returns the
  // head then. Woken by commits, not by polling: subscriptions use it to go live.
  // kUnsupported on backends without a global log.
  virtual Result<int64_t> WaitForHead(int64_t after, std::chrono::milliseconds timeout) = 0;

  // Counters for monitoring; backends fill what they know.
  virtual StoreStats Stats() { return {}; }

  // The stream lifecycle: metadata, deletes and scavenging. Backends that cannot keep it
  // return kUnsupported (README.md lists what each backend supports).

  // The stream's metadata and state. kNotFound when the stream has neither events nor
  // metadata; a hard-deleted stream answers (hard_deleted is set).
  virtual Result<StreamLifecycle> GetStreamLifecycle(std::string_view stream_id);

  // Replaces the stream's metadata (a stream with no events may have metadata). Durable when it
  // returns. kInvalidArgument for a bound below 1 or custom text that is not a JSON object;
  // kStreamDeleted for a hard-deleted stream.
  virtual Status SetStreamMetadata(std::string_view stream_id, const StreamMetadata& metadata);

  // Deletes the stream if it is at `expected`. Durable when it returns. kNotFound for a stream
  // with no events or already soft-deleted (and nothing appended since); kStreamDeleted for a
  // hard-deleted one; kWrongExpectedVersion as for appends.
  virtual Status DeleteStream(std::string_view stream_id, DeleteMode mode,
                              ExpectedVersion expected = ExpectedVersion::Any());

  // Reclaims the space of the events that reads no longer return (truncated, expired, deleted):
  // each becomes a kScavengedEventType marker at its position. Appends and reads go on
  // meanwhile. Running it again reclaims only what became hidden since.
  virtual Result<ScavengeReport> Scavenge(const ScavengeOptions& options = {});
};

// Checks metadata as SetStreamMetadata does: kInvalidArgument naming the field.
Status ValidateStreamMetadata(const StreamMetadata& metadata);

// An in-memory store: same contract, nothing durable. For tests and examples.
std::unique_ptr<EventStore> NewMemoryEventStore(const Limits& limits = {},
                                                std::shared_ptr<Clock> clock = nullptr);

// How OpenSqliteEventStore opens the embedded store. Only `path` must be set.
struct SqliteStoreOptions {
  std::string path;  // the database file; its folder must exist. Created when absent.
  Limits limits;     // checked on every append
  // Wait for fsync before acknowledging (SQLite synchronous=FULL). Turning it off is only for
  // tests and benchmarks that measure something else; acknowledged appends may then be lost.
  bool durable = true;
  // The most appends that one group commit takes from the queue.
  size_t max_batch_appends = 1024;
  // Idempotent retries with expected any/exists are recognised while the original events are
  // among this many most recent events of the log (exact-version retries always are).
  size_t recent_event_ids = 100000;
  // Connections kept open for concurrent reads.
  size_t read_connections = 8;
  // For tests: the sqlite3 VFS name (see sqlite3_vfs_register) that every file of the store is
  // opened, written and synced through, the writer's own WAL fsync included; tests register one
  // that injects fsync failures, a full disk and short writes. Empty: SQLite's default VFS.
  std::string vfs;
  // For tests: the calls the store makes outside SQLite (its lock, the folder fsync, the durable
  // head file that readers in other processes go by). Null: RealFileSystem().
  std::shared_ptr<FileSystem> file_system;
  // The clock that recorded times come from. Null: SystemClock().
  std::shared_ptr<Clock> clock;
};

// Opens (or creates) the embedded store: one SQLite file in WAL mode, a single writer thread
// with group commit. Only one process may open a file at a time; a second gets kUnavailable.
//
// When the disk fails:
// * A failed fsync fails every append not yet acknowledged (kIOError; after a reopen each such
//   commit is either wholly there or absent), and from then on the store refuses appends
//   (kUnavailable, "... fsync failure ...; reopen the store") until it is closed and opened
//   again: after a failed fsync what the OS kept of the file is unknown, so only recovery from
//   what is on disk can go on. Reads go on meanwhile, except when the failure also lost pages the
//   OS had not yet written (as a kernel may drop them): reads may then fail with kIOError or
//   kCorruption until the reopen, which recovers from what is on disk. Acknowledged events are
//   never lost.
// * A full disk (ENOSPC, or a short write, which SQLite reports the same way) fails the appends
//   of that commit with kIOError "disk full ..."; nothing of them was written, and the store
//   takes appends again as soon as there is space, without a reopen.
// * Any other write error fails that commit and makes the store refuse appends until reopened.
Result<std::unique_ptr<EventStore>> OpenSqliteEventStore(const SqliteStoreOptions& options);

// A read-only view of an embedded store's file for other processes, beside the one that owns
// it (consumer-group members, live tails): no lock, Append() is kUnavailable, WaitForHead() is
// woken when the owner publishes a commit. Like the owner's reads, it sees only what is durable:
// every read is bounded by the durable head that the owner writes beside the store after each
// fsync ("<path>-head"). A store that no owner has opened since an older release wrote it has
// no such file: the reader then fsyncs the store's files once and reads all they hold. Reads
// and the head go through `file_system` (null: RealFileSystem()). kNotFound when there is no
// store at `path`.
Result<std::unique_ptr<EventStore>> OpenSqliteEventStoreReader(
    const std::string& path, std::shared_ptr<FileSystem> file_system = nullptr);

}  // namespace evs
