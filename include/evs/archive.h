// The archive: the global log cut into immutable segments of consecutive positions, one object
// each in an ObjectStore, and replay that verifies every segment before it hands on an event.
//
// A segment is zstd-compressed JSON Lines, readable with `zstdcat` and `jq`:
//
//   {"format":"evs-segment","version":1,"first_position":1,"last_position":3,"count":3,...}
//   {"position":1,"stream_id":"cart-…","version":1,"id":"…","type":"CartOpened",
//    "recorded_at_us":…,"data":{…},"metadata":{…}}
//   …
//   {"format":"evs-segment-end","count":3,"first_position":1,"last_position":3,
//    "checksum":"xxh3-64:…"}
//
// The checksum covers every byte before the trailer line. Data and metadata are embedded as
// JSON values, byte for byte as stored; a value that cannot sit on one line as it is (it holds
// a line break, or space around it) is kept as a string in "data_text" / "metadata_text".
// Keys are "segments/<first>-<last>.jsonl.zst" with 20-digit positions, so they sort by position.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "evs/event_store.h"
#include "evs/object_store.h"
#include "evs/status.h"
#include "evs/subscription.h"

namespace evs {

class Upcaster;  // upcasting.h

// A segment object as its key describes it.
struct SegmentInfo {
  // The object's key, as SegmentKey() makes it.
  std::string key;
  // The position of its first event.
  int64_t first_position = 0;
  // The position of its last event.
  int64_t last_position = 0;
  uint64_t size = 0;  // bytes of the object (compressed)
};

// The key of the segment holding positions [first, last].
std::string SegmentKey(int64_t first_position, int64_t last_position);

// When an Archiver cuts a segment, and how it compresses it.
struct ArchiverOptions {
  // A segment is cut when it holds this many events...
  size_t segment_max_events = 100'000;
  // ...or this many bytes of JSON lines (before compression)...
  size_t segment_max_bytes = 64u << 20;
  // ...or its first event has waited this long (checked as events arrive and by the runner).
  std::chrono::milliseconds segment_max_age{std::chrono::minutes(5)};
  // zstd's level: 1 (fastest) .. 19 (smallest). Measured on cart events: level 1 both
  // compresses faster (565 vs 360 MB/s) and smaller (1:7.9 vs 1:6.7) than zstd's default 3.
  int compression_level = 1;
  // Segment ages and the time written in each header ("created_at_us"). Null: SystemClock().
  std::shared_ptr<Clock> clock;
};

// An archiver's figures, as Archiver::Stats() reports them.
struct ArchiverStats {
  int64_t archived_up_to = 0;   // the last position in a written segment (0: none)
  int64_t buffered_events = 0;  // events in the open segment, not yet written
  // Segments written by this archiver (not those it found in the archive).
  int64_t segments_written = 0;
  uint64_t bytes_written = 0;  // compressed, by this archiver
};

// Turns the feed into segments. It is an EventHandler, so it runs behind any feed; its progress
// is the archive itself: after a restart it continues after the last segment written, and the
// feed must deliver from ArchivedUpTo() + 1 (events of the open segment were not yet written and
// come again). Destroying it finishes a write in flight but drops the open segment. Thread-safe.
class Archiver : public EventHandler {
 public:
  // Reads where the archive ends and removes what interrupted writes left behind; only one
  // archiver may write to an archive at a time. kCorruption when the archive's segment keys do
  // not form one run from position 1.
  static Result<std::unique_ptr<Archiver>> Open(ObjectStore& objects, ArchiverOptions options);

  // Events at or before what is archived or buffered are skipped (an at-least-once feed sends
  // some again); the next one must follow on (kInvalidArgument names the gap otherwise). A full
  // segment is handed to the archiver's writer thread, which compresses and puts it while the
  // next one fills; segments are written one at a time, in order. A failed write is returned by
  // a later Handle() or Flush(), which write it again; the archive never holds a partial segment.
  Status Handle(std::span<const RecordedEvent> batch) override = 0;

  // Returns once every event handed over so far is in a written segment (writing the open one).
  virtual Status Flush() = 0;
  // Hands over the open segment if its first event has waited segment_max_age or longer.
  virtual Status FlushIfDue() = 0;

  // The last position in a written segment (0 for an empty archive): the feed goes on after it.
  virtual int64_t ArchivedUpTo() const = 0;
  // The id of the event at ArchivedUpTo() (nil for an empty archive): what ties the archive to
  // the history it was made from (see CheckArchiveFollowsStore).
  virtual Uuid LastArchivedEventId() const = 0;
  // Its figures now.
  virtual ArchiverStats Stats() const = 0;
};

// Archives a feed without global positions that keeps checkpoints of its own (a Kinesis
// consumer keeps one per shard): it is the feed's handler and its CheckpointStore at once. It
// numbers events 1, 2, ... in the order they arrive (only each stream's order is meaningful in
// such an archive, so point-in-time replay does not apply to it) and keeps the feed's
// checkpoints in the archive itself: a batch handed over becomes part of the archive with the
// next Save(), segments are cut only there, and each segment's header records every checkpoint
// as it stood after its last batch. After a restart Load() answers from the last segment, so the
// feed resumes right after what was archived. An event at or below the last version of its stream
// taken in this run is skipped (an at-least-once producer, e.g. a relay retrying, can put a commit
// on the feed twice); one repeated across a restart of the archiver would be archived again,
// which Verify reports by stream and version. A segment may
// run past segment_max_events / segment_max_bytes by one batch. A segment whose write failed is
// written again by the next Handle(), which fails (keeping nothing of its batch) while it still
// cannot be written, so the feed backs off and retries. Parked events are not kept here
// (kUnsupported). Thread-safe.
class CheckpointedArchiver : public Archiver, public CheckpointStore {
 public:
  // As Archiver::Open; the checkpoints Load() answers come from the last segment's header.
  static Result<std::unique_ptr<CheckpointedArchiver>> Open(ObjectStore& objects,
                                                            ArchiverOptions options);
};

// OK when the archive can go on from `store`: it is empty, or the store holds the archive's last
// event at its position. kInvalidArgument otherwise, saying why: the archive goes past the
// store's head, or it holds another event there (it was made from another store, or this store
// was restored to an earlier point and has moved on since); such a store needs a new archive.
// ArchiveRunner::Start and ArchiveOnce check this first.
Status CheckArchiveFollowsStore(EventStore& store, const Archiver& archiver,
                                const ObjectStore& objects);

// What an ArchiveRunner is doing, as GetStatus() reports it.
struct ArchiveRunnerStatus {
  // kRunning: archiving, or waiting for commits. kFailed: its last step failed; it retries with
  // backoff and goes back to kRunning once a step succeeds. kStopped: Stop() has returned (an
  // `error` then is the final write's).
  enum class State { kRunning, kStopped, kFailed };
  // What it is doing now.
  State state = State::kRunning;
  // The archiver's figures.
  ArchiverStats archiver;
  int64_t head = 0;   // the log's head when last looked at
  std::string error;  // the last error (the runner retries with backoff)
};

// Runs an Archiver from the embedded log on a thread of its own: reads after the archive's end,
// waits for commits, cuts segments by age when the log is quiet. Errors are retried with
// backoff and shown in the status. Stop() archives what the log holds then, writing the open
// segment. Destroying it stops it.
class ArchiveRunner {
 public:
  // Opens an Archiver on `objects`, checks that the archive follows `store`
  // (CheckArchiveFollowsStore), and starts the thread. `store` and `objects` must outlive it.
  static Result<std::unique_ptr<ArchiveRunner>> Start(EventStore& store, ObjectStore& objects,
                                                      ArchiverOptions options);
  virtual ~ArchiveRunner() = default;
  // Stops the thread, then archives what the log holds and writes the open segment; returns how
  // that went. Idempotent: a later call returns the first one's result.
  virtual Status Stop() = 0;
  // Its state and figures now. Thread-safe.
  virtual ArchiveRunnerStatus GetStatus() const = 0;
  // Waits until every position up to `position` is in a written segment, or `timeout` passes.
  virtual bool WaitUntilArchived(int64_t position, std::chrono::milliseconds timeout) = 0;
};

// How far a long archive job has got (archiving, replay, restore, verification).
struct ArchiveProgress {
  int64_t position = 0;  // the last position handled
  int64_t target = 0;    // the last position this run will reach (an estimate with `until`)
  int64_t events = 0;    // events handled so far
  uint64_t bytes = 0;    // object bytes read or written so far
};
// Told of progress now and then, on the thread doing the work; may be empty.
using ArchiveProgressFn = std::function<void(const ArchiveProgress&)>;

// Archives everything the log holds now, writes the open segment, and returns the archiver's
// figures (archived up to, segments and bytes written).
Result<ArchiverStats> ArchiveOnce(EventStore& store, ObjectStore& objects, ArchiverOptions options,
                                  const ArchiveProgressFn& progress = {});

// What ArchiveReader::Replay delivers, and how.
struct ReplayOptions {
  int64_t from = 1;                 // the first position to deliver
  int64_t to = INT64_MAX;           // the last position to deliver
  std::optional<int64_t> until_us;  // stop before the first event recorded after this
  size_t batch_size = 4096;         // events per Handle() call
  ArchiveProgressFn progress;       // called now and then (may be empty)
  // Upcasts events before the handler sees them (upcasting.h); retired types are not delivered.
  // Null: events as stored. A restore (below) refuses one: it copies the stored bytes.
  std::shared_ptr<const Upcaster> upcaster = nullptr;
};

// What a replay delivered.
struct ReplayResult {
  // Events handed to the handler (retired ones, which an upcaster holds back, counted too).
  int64_t events = 0;
  int64_t first_position = 0;  // 0 when nothing was delivered
  // The position of the last event delivered (0 likewise).
  int64_t last_position = 0;
  int64_t segments = 0;  // segments read
  uint64_t bytes = 0;    // object bytes read
};

// Reads an archive. Open() lists the segments and refuses an archive whose keys leave a gap,
// overlap, or do not start at position 1; Replay() checks each segment (checksum, format
// version, header, trailer and keys agree, positions dense) before any of its events is
// delivered, and fails with kCorruption naming the object otherwise. Segments are fetched and
// checked one ahead of delivery, on a second thread.
class ArchiveReader {
 public:
  // Lists the archive in `objects`, which must outlive the reader. kCorruption for keys that
  // leave a gap, overlap or do not start at position 1.
  static Result<std::unique_ptr<ArchiveReader>> Open(ObjectStore& objects);
  virtual ~ArchiveReader() = default;

  // The archive's segments as Open() found them, in position order.
  virtual const std::vector<SegmentInfo>& Segments() const = 0;
  virtual int64_t LastPosition() const = 0;  // 0 for an empty archive

  // Delivers the events of [from, to] (and up to `until_us`) to `handler` in position order. A
  // handler error stops the replay and is returned.
  virtual Result<ReplayResult> Replay(const ReplayOptions& options, EventHandler& handler) = 0;
};

// Rebuilds an embedded store at `store_path` from the archive: the same stream ids, versions,
// positions, event ids, data, metadata and times. The file must not exist; the store appears
// there only once complete and durable. `options.from` must be 1.
Result<ReplayResult> RestoreSqliteEventStore(ArchiveReader& archive, const ReplayOptions& options,
                                             const std::string& store_path);

// The same into a new log store (log_store.h) in `folder`, which must not exist; it opens with
// OpenLogEventStore once complete. Commits are rebuilt from the events: consecutive events of
// one stream recorded at the same time become one commit.
Result<ReplayResult> RestoreLogEventStore(ArchiveReader& archive, const ReplayOptions& options,
                                          const std::string& folder);

}  // namespace evs
