// Group commit for the embedded store: one writer thread and one sync thread.
//
// The writer takes every queued append, decides each (CommitPlanner), writes those that pass in
// one SQLite transaction and commits it without fsync (synchronous=NORMAL). It hands the
// committed batch to the sync thread, which fdatasyncs the WAL file, publishes the batch's heads
// and position, and only then acknowledges its appends. While one batch is being synced, the
// writer commits the next, so CPU work and fsync overlap and batches grow under load.
//
// Acknowledged means durable: every result, even a conflict decided against a batch that is not
// durable yet, is delivered after the batches before it are. If an fsync fails, the batch and
// everything after it fail and the writer refuses writes until the store is reopened.
//
// Every file access goes through the connection's sqlite3 VFS, the writer's own fsyncs of the
// WAL included (all but one fsync of the folder at start), so that a VFS that injects faults
// (tests) sees them. The writer checkpoints the WAL itself after a commit, in place of SQLite's
// auto-checkpoint, which ignores how its checkpoint went: a failed fsync there must not go
// unnoticed.
// Failures, by kind:
// * fsync (of the WAL by the writer, of the WAL or the database file by a checkpoint): every
//   batch not yet acknowledged fails, writes are refused until the store is reopened, and the
//   connection is closed without a checkpoint, so that the reopen recovers from what the WAL
//   holds on disk rather than from an OS cache whose state is unknown (PostgreSQL's fsyncgate).
// * a full disk (SQLITE_FULL: ENOSPC, or a short write): SQLite rolls the transaction back; its
//   batch fails and the next one is written as usual. A checkpoint that runs out of space is
//   tried again after a later commit; the commits stay in the WAL meanwhile.
// * any other failed write or commit: the batch fails and writes are refused until reopened.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/histogram.h"
#include "evs/clock.h"
#include "evs/event_store.h"
#include "store/commit_planner.h"
#include "store/completion.h"
#include "store/durable_head.h"
#include "store/sqlite.h"

namespace evs::store {

struct GroupCommitOptions {
  std::string path;  // the database file; its WAL is path + "-wal"
  bool durable = true;
  size_t max_batch_appends = 1024;
  // The clock events are recorded by; null: SystemClock(). Tests step it back.
  Clock* clock = nullptr;
  // Where the durable head file (durable_head.h) is written; must outlive the writer.
  FileSystem* file_system = nullptr;
};

class GroupCommitWriter {
 public:
  // `db` is the store's only writing connection, schema in place. `planner` holds the loaded
  // heads; `head_position` the last durable position. Both outlive the writer.
  GroupCommitWriter(GroupCommitOptions options, Database db, CommitPlanner& planner,
                    std::atomic<int64_t>& head_position);
  // Finishes every queued append, then stops.
  ~GroupCommitWriter();

  Status Start();

  // Queues a validated append and waits until it is durable (or failed).
  Result<AppendResult> Append(std::string_view stream, const ExpectedVersion& expected,
                              std::vector<EventData> events);

  // Queues a validated append and returns; `callback` gets its outcome once it is durable (or
  // failed), on the thread that synced its batch (event_store.h states the contract), in the
  // order appends were queued. A store that is closing calls back at once, on this thread.
  void AppendAsync(std::string_view stream, const ExpectedVersion& expected,
                   std::vector<EventData> events, EventStore::AppendCallback callback);

  // Queues a lifecycle change (metadata, a delete) like an append: decided by the planner in
  // commit order, written to stream_meta in the batch's transaction, returned once durable.
  Status Change(std::string_view stream, const ExpectedVersion& expected,
                const LifecycleChange& change);

  // Runs `job` on the writing connection between batches, alone (appends wait meanwhile), then
  // makes what it wrote durable like a batch. The job begins and commits its own transaction;
  // one it leaves open is rolled back and the job fails. With `checkpoint_after`, the WAL is
  // then copied into the database file (which shrinks when the job freed pages at its end).
  Status RunExclusive(const std::function<Status(Database&)>& job, bool checkpoint_after);

  // Counters and distributions of what was written (file_bytes is left to the caller).
  StoreStats Stats() const;

  // Waits until the published head position is past `after`, or `timeout`; returns it.
  int64_t WaitForHead(int64_t after, std::chrono::milliseconds timeout);

 private:
  struct AsyncAppend;
  struct PendingAppend {
    PendingAppend(std::string_view s, const ExpectedVersion& e, std::vector<EventData>& ev)
        : stream(s), expected(e), events(ev) {}
    std::string_view stream;
    const ExpectedVersion& expected;
    std::vector<EventData>& events;
    const LifecycleChange* change = nullptr;                // a lifecycle change, not an append
    const std::function<Status(Database&)>* job = nullptr;  // an exclusive job (RunExclusive)
    bool checkpoint_after = false;                          // of the job
    std::optional<Result<AppendResult>> result;
    Completion done;
    // Set for an asynchronous append (AsyncAppend below): it is called back and then deleted
    // instead of signalled.
    AsyncAppend* async = nullptr;
  };
  // What an asynchronous append owns while it is queued: no caller keeps it alive.
  struct AsyncParts {
    std::string stream;
    ExpectedVersion expected;
    std::vector<EventData> events;
    EventStore::AppendCallback callback;
  };
  // The parts are a base so that they are made before the PendingAppend that refers to them.
  struct AsyncAppend : AsyncParts, PendingAppend {
    explicit AsyncAppend(AsyncParts parts)
        : AsyncParts(std::move(parts)),
          PendingAppend(AsyncParts::stream, AsyncParts::expected, AsyncParts::events) {
      async = this;
    }
  };
  // A committed batch on its way to the sync thread.
  struct Batch {
    std::vector<PendingAppend*> appends;
    std::vector<AppendDecision> decisions;
    BatchHeads heads;
    int64_t last_position = 0;
    bool wrote = false;
    bool refused = false;  // taken after a failure: each append already holds its refusal
  };

  void WriterLoop();
  void SyncLoop();
  Batch WriteBatch(std::vector<PendingAppend*> appends);
  Status InsertEvents(const PendingAppend& p, const AppendDecision& d, int64_t now);
  Status WriteChange(const PendingAppend& p, const AppendDecision& d);
  Batch RunJob(PendingAppend* p);
  // Queues `pending`; false when the store is closing (nothing queued).
  bool Enqueue(PendingAppend& pending);
  Status Submit(PendingAppend& pending);
  Result<std::vector<CommittedId>> IdsAt(int64_t stream_number, int64_t first, size_t count);
  void HandToSync(Batch batch);
  // Makes a batch durable, publishes it and acknowledges its appends. `failure` is the store's
  // failure when the batch was taken, if any.
  void SyncAndDeliver(Batch& batch, std::optional<Error> failure);
  bool QueueEmpty();
  Status SyncWal();
  // Copies the WAL into the database file once it holds enough frames (writer thread).
  void Checkpoint();
  // sqlite3_wal_hook: remembers the WAL's size after each commit instead of checkpointing.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);
  // Makes the store refuse writes after a failed fsync: `what` says which one, in words.
  void RecordSyncFailure(const std::string& what);
  static void Deliver(Batch& batch, const std::optional<Error>& failure);

  const GroupCommitOptions options_;
  Clock* const clock_;
  Database db_;
  CommitPlanner& planner_;
  std::atomic<int64_t>& head_position_;
  Statement begin_, commit_, rollback_, insert_stream_, insert_, ids_at_, upsert_meta_;
  int64_t next_position_ = 0;  // writer thread
  // The recorded time of the last committed event (writer thread): batches are stamped no
  // earlier, so that times never decrease in commit order even when the clock steps back.
  int64_t last_recorded_us_ = 0;
  int wal_frames_ = 0;  // the WAL's frames after the last commit (writer thread)
  // The WAL, opened through the connection's VFS for the writer's own fsyncs: by whichever
  // thread is syncing a batch (sync_busy_); opened by Start(). Its name belongs to the
  // connection, which outlives it.
  sqlite3_file* wal_ = nullptr;
  const char* wal_name_ = nullptr;
  // The durable head for readers in other processes, rewritten after each fsync (Start()).
  std::optional<DurableHeadWriter> durable_head_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<PendingAppend*> queue_;
  bool stopping_ = false;

  // Held from before a batch's syncer gives up sync_busy_ until its appends are delivered, so
  // that the next batch's syncer delivers after it: completions keep the order of submission.
  std::mutex deliver_mu_;

  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::optional<Batch> to_sync_;  // handed by the writer, taken by the sync thread
  bool sync_busy_ = false;        // a batch is being synced (by either thread)
  BatchHeads synced_heads_;       // given back to the writer to settle
  bool sync_stopping_ = false;
  // Set once, both refuse new writes. A failed commit leaves the batches committed before it
  // to be synced and acknowledged; a failed fsync fails every batch not yet acknowledged, since
  // later batches were decided on top of what it did not make durable.
  std::optional<Error> commit_failure_;
  std::optional<Error> sync_failure_;

  std::thread writer_thread_, sync_thread_;

  std::mutex head_mu_;  // with head_cv_: wakes WaitForHead() when a batch is published
  std::condition_variable head_cv_;

  std::atomic<uint64_t> appends_{0}, events_{0}, conflicts_{0}, duplicates_{0}, commits_{0};
  Histogram batch_appends_{Histogram::CountBounds()};
  Histogram fsync_seconds_{Histogram::LatencyBounds()};
};

}  // namespace evs::store
