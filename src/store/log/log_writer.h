// Group commit for the log engine: one writer thread and one sync thread.
//
// The writer takes every queued append (and lifecycle change), decides each with the
// CommitPlanner, encodes one record per commit that passes into one buffer and writes it with
// one pwrite at the end of the log (two when the batch fills a segment and rolls over to the
// next, preallocated one). It hands the written batch to the sync thread and goes on with the
// next batch while that one is fsynced: the sync thread takes every batch handed to it so far,
// fsyncs the segments they wrote once, publishes their heads and head position, and only then
// completes their appends, in the order they were queued. For a lone writer (a batch of one
// append, nothing queued) with the sync thread idle, the writer syncs and completes the batch
// itself: there is no work to overlap, and it saves two thread wake-ups.
//
// Failures:
// * fsync: every batch not yet acknowledged fails, and the store refuses writes until it is
//   reopened (recovery then keeps exactly the records that check out on disk);
// * a full disk (ENOSPC): the batch fails; what it wrote lies past the end of the log, where the
//   next batch overwrites it (the records' checksum chain and batch number make any remainder
//   fail to check out), and the store goes on;
// * any other write error: the batch fails and the store refuses writes until reopened.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/histogram.h"
#include "evs/clock.h"
#include "evs/event_store.h"
#include "store/commit_planner.h"
#include "store/completion.h"
#include "store/durable_head.h"
#include "store/log/log_checkpoint.h"
#include "store/log/log_index.h"
#include "store/log/log_recovery.h"
#include "store/log/segment.h"

namespace evs::store::log {

// The segments of an open log, shared by the writer (which adds them) and readers.
class SegmentSet {
 public:
  void Add(std::shared_ptr<Segment> segment);
  std::shared_ptr<Segment> Get(uint32_t number) const;
  // The number of the first segment (0: none).
  uint32_t First() const;
  // Puts `segment` in place of the one of its number (a sealed segment rewritten by Scavenge()).
  void Replace(std::shared_ptr<Segment> segment);
  int64_t FileBytes() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Segment>> segments_;  // ascending, contiguous
};

struct LogWriterOptions {
  std::string folder;
  bool durable = true;
  size_t max_batch_appends = 1024;
  uint64_t segment_bytes = uint64_t{64} << 20;
  FileSystem* file_system = nullptr;  // outlives the writer
  Clock* clock = nullptr;             // outlives the writer
  // Held shared while the writer reads records by their index locations (retries): Scavenge()
  // holds it exclusively while it moves records. Outlives the writer.
  std::shared_mutex* locations = nullptr;
};

class LogWriter {
 public:
  // Goes on from `recovered` (its segments already in `segments`). `planner`, `index`,
  // `segments` and `head_position` outlive the writer.
  LogWriter(LogWriterOptions options, const RecoveredLog& recovered, CommitPlanner& planner,
            LogIndex& index, SegmentSet& segments, std::atomic<int64_t>& head_position);
  // Completes every queued append, then stops.
  ~LogWriter();

  // Publishes the durable head for readers in other processes, then starts the threads.
  Status Start();
  // Completes every queued append and stops the threads; later appends are kUnavailable.
  void Stop();
  // After Stop(): whether every batch was written and synced (nothing refuses writes), and
  // where the log ends.
  bool Healthy();
  LogEnd End() const;
  // Whether any batch was taken since the store opened.
  bool WroteAny() const { return attempt_ != first_attempt_; }

  // Queues a validated append and waits until it is durable (or failed).
  Result<AppendResult> Append(std::string_view stream, const ExpectedVersion& expected,
                              std::vector<EventData> events);
  // Queues a validated append; `callback` gets its outcome on the sync thread (event_store.h).
  void AppendAsync(std::string_view stream, const ExpectedVersion& expected,
                   std::vector<EventData> events, EventStore::AppendCallback callback);
  // Queues a lifecycle change and waits until it is durable (or failed).
  Status Change(std::string_view stream, const ExpectedVersion& expected,
                const LifecycleChange& change);

  // Ends the segment being written (when it holds any record: the writer goes on in the next)
  // once every append queued before is durable, and returns the number of the segment written
  // now: every segment before it is sealed for good, all its records durable (Scavenge()).
  Result<uint32_t> Seal();

  int64_t WaitForHead(int64_t after, std::chrono::milliseconds timeout);
  StoreStats Stats() const;

 private:
  struct AsyncAppend;
  struct PendingAppend {
    PendingAppend(std::string_view s, const ExpectedVersion& e, std::vector<EventData>& ev)
        : stream(s), expected(e), events(ev) {}
    std::string_view stream;
    const ExpectedVersion& expected;
    std::vector<EventData>& events;
    const LifecycleChange* change = nullptr;
    bool seal = false;          // Seal(): no record; sealed_below is set
    uint32_t sealed_below = 0;  // Seal()'s answer
    std::optional<Result<AppendResult>> result;
    Completion done;
    AsyncAppend* async = nullptr;  // set: called back and deleted instead of signalled
  };
  struct AsyncParts {
    std::string stream;
    ExpectedVersion expected;
    std::vector<EventData> events;
    EventStore::AppendCallback callback;
  };
  struct AsyncAppend : AsyncParts, PendingAppend {
    explicit AsyncAppend(AsyncParts parts)
        : AsyncParts(std::move(parts)),
          PendingAppend(AsyncParts::stream, AsyncParts::expected, AsyncParts::events) {
      async = this;
    }
  };
  struct Batch {
    std::vector<PendingAppend*> appends;
    std::vector<AppendDecision> decisions;
    BatchHeads heads;
    std::vector<std::shared_ptr<Segment>> written;  // to fsync
    int64_t last_position = 0;
    bool wrote = false;
    bool refused = false;  // each decision already holds its refusal
  };
  // A record of the batch being encoded, for the index once it is written.
  struct Encoded {
    std::string_view stream;
    int64_t first_version;  // 0: a lifecycle record
    int64_t first_position;
    RecordLocation where;
  };

  bool Enqueue(PendingAppend& pending);
  Status Submit(PendingAppend& pending);
  void WriterLoop();
  void SyncLoop();
  bool QueueEmpty();
  // Hands `batch` to the sync thread, or syncs it here when nothing else waits (see above).
  void HandToSync(Batch batch);
  // Fsyncs what `batches` wrote, publishes them and completes their appends; on the thread that
  // set sync_busy_, which it clears at the end.
  void SyncAndDeliver(std::deque<Batch>& batches);
  Batch WriteBatch(std::vector<PendingAppend*> appends);
  // Writes buffer_ at the end of the log; on success the records' places become final.
  Status Flush(Batch& batch);
  // Moves writing to the next segment (zeroing what a failed batch left in this one).
  Status Roll(Batch& batch);
  Result<std::vector<CommittedId>> IdsAt(std::string_view stream, int64_t first, size_t count);
  void RecordSyncFailure(const std::string& what);
  static void Deliver(Batch& batch, const std::optional<Error>& failure);

  const LogWriterOptions options_;
  FileSystem& fs_;
  Clock& clock_;
  CommitPlanner& planner_;
  LogIndex& index_;
  SegmentSet& segments_;
  std::atomic<int64_t>& head_position_;
  SegmentPreallocator preallocator_;
  // "<folder>/log-head", rewritten after each fsync, before the batch is acknowledged.
  std::optional<DurableHeadWriter> durable_head_;

  // Writer thread.
  std::shared_ptr<Segment> current_;
  uint64_t offset_ = 0;  // where the next record goes in current_
  RecordLocation last_record_;
  uint64_t dirty_end_ = 0;  // how far in current_ a failed batch may have written
  uint64_t chain_ = 0;
  uint64_t attempt_ = 0;
  uint64_t first_attempt_ = 0;
  int64_t next_position_ = 1;
  int64_t last_recorded_us_ = 0;
  std::string buffer_;
  std::vector<Encoded> encoded_;
  std::vector<char> read_buffer_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<PendingAppend*> queue_;
  bool stopping_ = false;

  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::deque<Batch> to_sync_;
  bool sync_busy_ = false;  // a thread is syncing and completing batches: one at a time, in order
  bool sync_stopping_ = false;
  BatchHeads synced_heads_;             // published by the sync thread, for the writer to settle
  std::optional<Error> sync_failure_;   // a failed fsync: refuse until reopened
  std::optional<Error> write_failure_;  // a failed write other than a full disk: likewise

  std::thread writer_thread_, sync_thread_;

  std::mutex head_mu_;
  std::condition_variable head_cv_;

  std::atomic<uint64_t> appends_{0}, events_{0}, conflicts_{0}, duplicates_{0}, commits_{0};
  Histogram batch_appends_{Histogram::CountBounds()};
  Histogram fsync_seconds_{Histogram::LatencyBounds()};
};

}  // namespace evs::store::log
