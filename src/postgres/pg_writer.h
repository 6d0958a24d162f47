// The PostgreSQL store's writer: two threads and connections ("lanes") per store, taking the
// queued appends and committing each batch in one transaction (group commit). See evs/postgres.h
// for the transaction, the predicted one-round-trip path and why the log has no holes.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "evs/event_store.h"
#include "evs/postgres.h"
#include "postgres/pg_connection.h"
#include "store/commit_planner.h"

namespace evs::pg {

struct PendingAppend {
  std::string stream;
  ExpectedVersion expected = ExpectedVersion::Any();
  std::vector<EventData> events;  // validated
  EventStore::AppendCallback callback;
};

class Writer {
 public:
  // `committed` is called on the writer thread after each commit that wrote events.
  Writer(PostgresStoreOptions options, std::unique_ptr<Connection> connection,
         std::function<void()> committed);
  // Completes every queued append, then stops.
  ~Writer();

  // Queues an append; its callback runs on the writer thread (or here, kUnavailable, when the
  // store is closing).
  void Submit(PendingAppend append);

  uint64_t commits() const;

 private:
  // One connection and what the writer keeps of it. Two lanes overlap: while one waits for the
  // head row and commits (its WAL flush), the next batch locks its rows and is checked or
  // decided on the other.
  struct Lane {
    std::unique_ptr<Connection> connection;
    std::unordered_set<std::string> known_streams;  // streams whose row exists
    bool race = false;  // the last attempt lost a race with another writer (retry it at once)
  };

  void Run(Lane& lane);
  // Commits `batch` (the seq-th), retrying the whole transaction after a lost connection or a
  // race with another process; returns one outcome per append.
  std::vector<Result<AppendResult>> Commit(Lane& lane, uint64_t seq,
                                           std::vector<PendingAppend>& batch);
  // One attempt. A batch-level error (the transaction did not commit, or its outcome is
  // unknown) is returned as such; `retry` says whether running it again may succeed.
  // `predict`: may try the one-round-trip path (see Attempt in pg_writer.cc).
  Result<std::vector<Result<AppendResult>>> Attempt(Lane& lane, uint64_t seq,
                                                    std::vector<PendingAppend>& batch, bool predict,
                                                    bool& retry);
  // Drops the predicted heads of `streams` (a batch that wrote them failed).
  void Forget(const std::vector<std::string>& streams);
  int64_t NowMicros() const;
  Status EnsureConnected(Lane& lane);
  // Batches lock their streams' rows in the order they were taken: waits for the seq-th's turn.
  void WaitToLock(uint64_t seq);
  // The seq-th batch holds its locks (or gave up): the next one may lock.
  void Locked(uint64_t seq);

  const PostgresStoreOptions options_;
  const std::function<void()> committed_;
  Lane lanes_[2];

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PendingAppend> queue_;
  // Each stream's head once every batch decided so far commits: what the writer committed or
  // decided last, a prediction that the next batch's transaction checks under the rows' locks.
  std::unordered_map<std::string, store::StreamHead> predicted_;
  bool closing_ = false;
  uint64_t commits_ = 0;
  uint64_t next_seq_ = 0;   // the seq of the next batch taken
  uint64_t lock_turn_ = 0;  // the batch that may lock its rows now
  uint64_t done_turn_ = 0;  // the batch whose callbacks run next
  std::thread threads_[2];
};

}  // namespace evs::pg
