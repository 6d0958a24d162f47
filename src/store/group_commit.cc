#include "store/group_commit.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>

#include "common/system_error.h"
#include "store/deliver_appends.h"

namespace evs::store {

namespace {

// SQLite's auto-checkpoint threshold, kept: the WAL is copied into the database file once a commit
// leaves it this many frames (pages) long.
constexpr int kCheckpointFrames = 1000;

// The SQLite result code of a failed step that only a reopen can judge: a failed write (but
// not a full disk, which SQLite rolls back cleanly), a failed fsync, a damaged file.
bool NeedsReopen(int rc) {
  switch (rc & 0xff) {
    case SQLITE_IOERR:
      return rc != SQLITE_IOERR_READ && rc != SQLITE_IOERR_SHORT_READ && rc != SQLITE_IOERR_NOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CANTOPEN:
      return true;
    default:
      return false;
  }
}

Error Closing() { return Error::Make(ErrorCode::kUnavailable, "the store is closing"); }

FileSystem& FileSystemOf(const GroupCommitOptions& options) {
  return options.file_system ? *options.file_system : *RealFileSystem();
}

}  // namespace

GroupCommitWriter::GroupCommitWriter(GroupCommitOptions options, Database db,
                                     CommitPlanner& planner, std::atomic<int64_t>& head_position)
    : options_(std::move(options)),
      clock_(options_.clock ? options_.clock : SystemClock().get()),
      db_(std::move(db)),
      planner_(planner),
      head_position_(head_position) {}

GroupCommitWriter::~GroupCommitWriter() {
  {
    std::lock_guard guard(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::lock_guard guard(sync_mu_);
    sync_stopping_ = true;
  }
  sync_cv_.notify_all();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (wal_) {
    if (wal_->pMethods) wal_->pMethods->xClose(wal_);
    sqlite3_free(wal_);
  }
  // After a failed write or fsync, closing must not copy the WAL into the database file from a
  // cache whose state is unknown: the next open recovers from what the WAL holds on disk.
  if (commit_failure_ || sync_failure_) {
    sqlite3_db_config(db_.raw(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  }
}

Status GroupCommitWriter::Start() {
  struct {
    Statement* target;
    const char* sql;
  } statements[] = {
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
      {&insert_stream_, "INSERT INTO streams(stream_no, stream_id) VALUES (?, ?)"},
      {&insert_,
       "INSERT INTO events(position, stream_no, version, event_id, type, data, metadata, "
       "recorded_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"},
      {&ids_at_,
       "SELECT event_id, position FROM events WHERE stream_no = ? AND version >= ? "
       "ORDER BY version LIMIT ?"},
      {&upsert_meta_,
       "INSERT INTO stream_meta(stream_no, max_count, max_age_s, truncate_before, custom, "
       "deleted_through, hard_deleted) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(stream_no) DO "
       "UPDATE SET max_count = excluded.max_count, max_age_s = excluded.max_age_s, "
       "truncate_before = excluded.truncate_before, custom = excluded.custom, "
       "deleted_through = excluded.deleted_through, hard_deleted = excluded.hard_deleted"},
  };
  for (auto& s : statements) {
    auto stmt = db_.Prepare(s.sql);
    if (!stmt) return stmt.error();
    *s.target = std::move(stmt).value();
  }
  // Replaces SQLite's auto-checkpoint (see Checkpoint()).
  sqlite3_wal_hook(db_.raw(), &GroupCommitWriter::OnWalCommit, this);
  // Whatever opening wrote (the schema), or a process killed before its fsync left in the WAL,
  // is made durable before the first acknowledgement, and before readers are told of it.
  if (auto s = SyncWal(); !s) return s;
  next_position_ = head_position_.load() + 1;
  auto head_file = DurableHeadWriter::Open(FileSystemOf(options_), options_.path);
  if (!head_file) return head_file.error();
  durable_head_.emplace(std::move(head_file).value());
  if (auto s = durable_head_->Publish(head_position_.load()); !s) return s;
  {
    // The last event's time rather than the largest: that would be a full scan, and times
    // committed from here on need only follow the last. Finalized before the threads start,
    // since the connection is not shared.
    auto last = db_.Prepare("SELECT recorded_at_us FROM events ORDER BY position DESC LIMIT 1");
    if (!last) return last.error();
    const int rc = last->Step();
    if (rc == SQLITE_ROW) {
      last_recorded_us_ = last->Int(0);
    } else if (rc != SQLITE_DONE) {
      return last->LastError("loading the last recorded time");
    }
  }
  writer_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "evs-writer");
    WriterLoop();
  });
  sync_thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "evs-sync");
    SyncLoop();
  });
  return OkStatus();
}

Result<AppendResult> GroupCommitWriter::Append(std::string_view stream,
                                               const ExpectedVersion& expected,
                                               std::vector<EventData> events) {
  PendingAppend pending{stream, expected, events};
  if (auto s = Submit(pending); !s) return s.error();
  return std::move(*pending.result);
}

void GroupCommitWriter::AppendAsync(std::string_view stream, const ExpectedVersion& expected,
                                    std::vector<EventData> events,
                                    EventStore::AppendCallback callback) {
  auto pending = std::make_unique<AsyncAppend>(
      AsyncParts{std::string(stream), expected, std::move(events), std::move(callback)});
  if (!Enqueue(*pending)) {
    pending->callback(Closing());
    return;
  }
  pending.release();  // Deliver() deletes it once it has called back
}

bool GroupCommitWriter::Enqueue(PendingAppend& pending) {
  {
    std::lock_guard guard(queue_mu_);
    if (stopping_) return false;
    queue_.push_back(&pending);
  }
  queue_cv_.notify_one();
  return true;
}

Status GroupCommitWriter::Submit(PendingAppend& pending) {
  if (!Enqueue(pending)) return Closing();
  pending.done.Wait();
  return OkStatus();
}

Status GroupCommitWriter::Change(std::string_view stream, const ExpectedVersion& expected,
                                 const LifecycleChange& change) {
  std::vector<EventData> none;
  PendingAppend pending{stream, expected, none};
  pending.change = &change;
  if (auto s = Submit(pending); !s) return s;
  if (!pending.result->ok()) return pending.result->error();
  return OkStatus();
}

Status GroupCommitWriter::RunExclusive(const std::function<Status(Database&)>& job,
                                       bool checkpoint_after) {
  std::vector<EventData> none;
  const ExpectedVersion any = ExpectedVersion::Any();
  PendingAppend pending{{}, any, none};
  pending.job = &job;
  pending.checkpoint_after = checkpoint_after;
  if (auto s = Submit(pending); !s) return s;
  if (!pending.result->ok()) return pending.result->error();
  return OkStatus();
}

void GroupCommitWriter::WriterLoop() {
  for (;;) {
    std::vector<PendingAppend*> taken;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is handed on
      // An exclusive job is a batch of its own: taken alone, or left for the next batch.
      auto end = queue_.begin() +
                 static_cast<std::ptrdiff_t>(std::min(queue_.size(), options_.max_batch_appends));
      if (queue_.front()->job) {
        end = queue_.begin() + 1;
      } else {
        end = std::find_if(queue_.begin(), end, [](const PendingAppend* p) { return p->job; });
      }
      taken.assign(queue_.begin(), end);
      queue_.erase(queue_.begin(), end);
    }
    HandToSync(taken.front()->job ? RunJob(taken.front()) : WriteBatch(std::move(taken)));
  }
}

GroupCommitWriter::Batch GroupCommitWriter::WriteBatch(std::vector<PendingAppend*> appends) {
  Batch batch;
  batch.appends = std::move(appends);
  batch.decisions.reserve(batch.appends.size());
  {
    std::lock_guard guard(sync_mu_);
    if (commit_failure_ || sync_failure_) {
      Error refused = sync_failure_ ? *sync_failure_ : *commit_failure_;
      refused.code = ErrorCode::kUnavailable;
      for (size_t i = 0; i < batch.appends.size(); ++i) {
        batch.decisions.push_back(AppendDecision{AppendDecision::Kind::kFail, {}, refused});
      }
      batch.refused = true;
      return batch;
    }
  }
  auto ids_at = [this](std::string_view, int64_t stream_number, int64_t first, size_t count) {
    return IdsAt(stream_number, first, count);
  };
  const int64_t now = std::max(clock_->NowMicros(), last_recorded_us_);
  int64_t next_position = next_position_;
  bool began = false;
  std::optional<Error> error;
  for (PendingAppend* p : batch.appends) {
    const AppendDecision& d = batch.decisions.emplace_back(
        p->change ? planner_.PlanChange(p->stream, p->expected, *p->change)
                  : planner_.Plan(p->stream, p->expected, p->events, next_position, ids_at));
    // A failed read inside the transaction (IdsAt) can make SQLite roll the whole transaction
    // back by itself; going on would commit the rest of the batch without the start of it.
    if (began && sqlite3_get_autocommit(db_.raw())) {
      error = Error::Make(ErrorCode::kIOError,
                          "the batch's transaction was rolled back by SQLite after a failed read");
      break;
    }
    if (d.kind != AppendDecision::Kind::kWrite) continue;
    if (!began) {
      int rc = begin_.Step();
      begin_.Reset();
      if (rc != SQLITE_DONE) {
        error = begin_.LastError("cannot begin a transaction");
        break;
      }
      began = true;
    }
    if (auto s = p->change ? WriteChange(*p, d) : InsertEvents(*p, d, now); !s) {
      error = s.error();
      break;
    }
    if (!p->change) next_position = d.result.last_position + 1;
  }
  bool commit_failed = false;
  if (began && !error) {
    int rc = commit_.Step();
    commit_.Reset();
    if (rc != SQLITE_DONE) {
      error = commit_.LastError("cannot commit");
      commit_failed = true;
    }
  }
  if (error) {
    const int rc = sqlite3_extended_errcode(db_.raw());  // the failed step's, before the rollback
    if (began) {
      rollback_.Step();
      rollback_.Reset();
    }
    if ((rc & 0xff) == SQLITE_FULL) {
      // SQLite rolled the transaction back (a full WAL or a short write of it): nothing of the
      // batch is in the store, and the next batch is written as usual.
      error = Error::Make(ErrorCode::kIOError,
                          "disk full: " + error->message +
                              "; nothing of this commit was written, and the store takes appends "
                              "again once there is space");
    } else if (IsSyncFailure(rc)) {
      RecordSyncFailure(error->message);
      std::lock_guard guard(sync_mu_);
      error = *sync_failure_;
    } else if (commit_failed || NeedsReopen(rc)) {
      // A failed commit or write other than a full disk may leave what only recovery can judge:
      // refuse writes until the store is reopened rather than guess.
      std::lock_guard guard(sync_mu_);
      commit_failure_ =
          Error::Make(ErrorCode::kIOError, "the store failed to commit (" + error->message +
                                               ") and refuses writes until it is reopened (events "
                                               "acknowledged before are safe)");
      error = *commit_failure_;
    }
    planner_.Discard();
    for (auto& d : batch.decisions) d = AppendDecision{AppendDecision::Kind::kFail, {}, *error};
    batch.decisions.resize(batch.appends.size(),
                           AppendDecision{AppendDecision::Kind::kFail, {}, *error});
    return batch;
  }
  batch.heads = planner_.Seal();
  batch.wrote = began;
  size_t written = 0;
  for (size_t i = 0; i < batch.decisions.size(); ++i) {
    switch (batch.decisions[i].kind) {
      case AppendDecision::Kind::kWrite:
        if (batch.appends[i]->change) break;  // not an append
        ++written;
        events_.fetch_add(batch.appends[i]->events.size(), std::memory_order_relaxed);
        break;
      case AppendDecision::Kind::kDuplicate:
        duplicates_.fetch_add(1, std::memory_order_relaxed);
        break;
      case AppendDecision::Kind::kFail:
        if (batch.decisions[i].error->code == ErrorCode::kWrongExpectedVersion) {
          conflicts_.fetch_add(1, std::memory_order_relaxed);
        }
        break;
    }
  }
  if (began) {
    appends_.fetch_add(written, std::memory_order_relaxed);
    commits_.fetch_add(1, std::memory_order_relaxed);
    batch_appends_.Observe(static_cast<double>(written));
  }
  batch.last_position = next_position - 1;
  next_position_ = next_position;
  // Only a committed batch moves the time on, like the position: what stays in memory is what
  // a reopen would load.
  if (began) last_recorded_us_ = now;
  if (began && wal_frames_ >= kCheckpointFrames) Checkpoint();
  return batch;
}

int GroupCommitWriter::OnWalCommit(void* self, sqlite3*, const char*, int frames) {
  static_cast<GroupCommitWriter*>(self)->wal_frames_ = frames;
  return SQLITE_OK;
}

void GroupCommitWriter::Checkpoint() {
  // Passive, as SQLite's auto-checkpoint: it copies what no reader still needs and never waits.
  const int rc =
      sqlite3_wal_checkpoint_v2(db_.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  // Any other failure (a full disk, a failed write) leaves the WAL as it was, holding every
  // commit: the checkpoint is tried again after the next commit. A failed fsync leaves unknown
  // what the WAL or the database file hold, and with them the batches not yet acknowledged
  // (the batch just committed among them: it fails when it is taken to be synced).
  if (IsSyncFailure(rc)) RecordSyncFailure(db_.LastError("checkpoint of the WAL").message);
}

void GroupCommitWriter::RecordSyncFailure(const std::string& what) {
  const int64_t durable = head_position_.load(std::memory_order_acquire);
  std::lock_guard guard(sync_mu_);
  if (sync_failure_) return;
  sync_failure_ = Error::Make(
      ErrorCode::kIOError,
      "the store hit an fsync failure after position " + std::to_string(durable) + " (" + what +
          ") and refuses writes until it is reopened; events acknowledged before are safe, and "
          "an append that was not acknowledged is either wholly there or absent after the reopen");
}

Status GroupCommitWriter::InsertEvents(const PendingAppend& p, const AppendDecision& d,
                                       int64_t now) {
  if (d.new_stream) {
    insert_stream_.Bind(1, d.stream_number);
    insert_stream_.Bind(2, p.stream);
    int rc = insert_stream_.Step();
    insert_stream_.Reset();
    if (rc != SQLITE_DONE) return insert_stream_.LastError("cannot write a new stream");
  }
  const AppendResult& r = d.result;
  char id[36];
  for (size_t i = 0; i < p.events.size(); ++i) {
    const EventData& e = p.events[i];
    e.id.FormatTo(id);
    insert_.Bind(1, r.first_position + static_cast<int64_t>(i));
    insert_.Bind(2, d.stream_number);
    insert_.Bind(3, r.first_version + static_cast<int64_t>(i));
    insert_.Bind(4, std::string_view(id, sizeof id));
    insert_.Bind(5, e.type);
    insert_.Bind(6, e.data);
    insert_.Bind(7, e.metadata);
    insert_.Bind(8, now);
    int rc = insert_.Step();
    insert_.Reset();
    if (rc != SQLITE_DONE) return insert_.LastError("cannot write an event");
  }
  return OkStatus();
}

Status GroupCommitWriter::WriteChange(const PendingAppend& p, const AppendDecision& d) {
  if (d.new_stream) {
    insert_stream_.Bind(1, d.stream_number);
    insert_stream_.Bind(2, p.stream);
    int rc = insert_stream_.Step();
    insert_stream_.Reset();
    if (rc != SQLITE_DONE) return insert_stream_.LastError("cannot write a new stream");
  }
  const StreamHead head = planner_.Current(p.stream);
  auto bind_bound = [&](int index, const std::optional<int64_t>& value) {
    if (value) {
      upsert_meta_.Bind(index, *value);
    } else {
      upsert_meta_.BindNull(index);
    }
  };
  const StreamMetadata none;
  const StreamMetadata& m = head.metadata ? *head.metadata : none;
  upsert_meta_.Bind(1, d.stream_number);
  bind_bound(2, m.max_count);
  bind_bound(3, m.max_age_seconds);
  bind_bound(4, m.truncate_before);
  if (m.custom.empty()) {
    upsert_meta_.BindNull(5);
  } else {
    upsert_meta_.Bind(5, std::string_view(m.custom));
  }
  upsert_meta_.Bind(6, head.deleted_through);
  upsert_meta_.Bind(7, int64_t{head.hard_deleted ? 1 : 0});
  const int rc = upsert_meta_.Step();
  upsert_meta_.Reset();
  if (rc != SQLITE_DONE) return upsert_meta_.LastError("cannot write stream metadata");
  return OkStatus();
}

GroupCommitWriter::Batch GroupCommitWriter::RunJob(PendingAppend* p) {
  Batch batch;
  batch.appends.push_back(p);
  {
    std::lock_guard guard(sync_mu_);
    if (commit_failure_ || sync_failure_) {
      Error refused = sync_failure_ ? *sync_failure_ : *commit_failure_;
      refused.code = ErrorCode::kUnavailable;
      batch.decisions.push_back(AppendDecision{AppendDecision::Kind::kFail, {}, refused});
      batch.refused = true;
      return batch;
    }
  }
  Status status = OkStatus();
  try {
    status = (*p->job)(db_);
  } catch (const std::exception& e) {
    status = Error::Make(ErrorCode::kIOError, e.what());
  }
  const int rc = sqlite3_extended_errcode(db_.raw());
  if (!status.ok() && IsSyncFailure(rc)) {
    RecordSyncFailure(status.error().message);
  } else if (!status.ok() && NeedsReopen(rc)) {
    std::lock_guard guard(sync_mu_);
    commit_failure_ =
        Error::Make(ErrorCode::kIOError, "a store job failed (" + status.error().message +
                                             ") and the store refuses writes until it is reopened");
  }
  if (!sqlite3_get_autocommit(db_.raw())) {
    rollback_.Step();
    rollback_.Reset();
    if (status.ok()) {
      status = Error::Make(ErrorCode::kIOError, "a store job left its transaction open");
    }
  }
  if (status.ok() && p->checkpoint_after) Checkpoint();
  batch.decisions.push_back(status.ok()
                                ? AppendDecision{AppendDecision::Kind::kWrite, {}, std::nullopt}
                                : AppendDecision{AppendDecision::Kind::kFail, {}, status.error()});
  batch.wrote = status.ok();
  batch.last_position = next_position_ - 1;
  return batch;
}

Result<std::vector<CommittedId>> GroupCommitWriter::IdsAt(int64_t stream_number, int64_t first,
                                                          size_t count) {
  ids_at_.Bind(1, stream_number);
  ids_at_.Bind(2, first);
  ids_at_.Bind(3, static_cast<int64_t>(count));
  std::vector<CommittedId> ids;
  int rc;
  while ((rc = ids_at_.Step()) == SQLITE_ROW) {
    ids.push_back(CommittedId{Uuid::Parse(ids_at_.Text(0)).value_or(Uuid{}), ids_at_.Int(1)});
  }
  Error error = ids_at_.LastError("reading committed event ids");
  ids_at_.Reset();
  if (rc != SQLITE_DONE) return error;
  return ids;
}

bool GroupCommitWriter::QueueEmpty() {
  std::lock_guard guard(queue_mu_);
  return queue_.empty();
}

void GroupCommitWriter::HandToSync(Batch batch) {
  // With nobody else waiting, the writer syncs the batch itself: a hand-off to the sync thread
  // only pays when the writer has a next batch to work on meanwhile.
  const bool quiet = QueueEmpty();
  BatchHeads settled;
  std::optional<Error> failure;
  bool sync_here = false;
  {
    std::unique_lock lock(sync_mu_);
    // At most one batch waits while another syncs; the writer works on the next meanwhile.
    sync_cv_.wait(lock, [&] { return !to_sync_.has_value(); });
    settled.swap(synced_heads_);
    if (quiet && !sync_busy_) {
      sync_here = true;
      sync_busy_ = true;
      failure = sync_failure_;
    } else {
      to_sync_ = std::move(batch);
    }
  }
  if (sync_here) {
    SyncAndDeliver(batch, std::move(failure));
  } else {
    sync_cv_.notify_all();
  }
  planner_.Settled(settled);
}

void GroupCommitWriter::SyncLoop() {
  for (;;) {
    Batch batch;
    std::optional<Error> failure;
    {
      std::unique_lock lock(sync_mu_);
      // The writer may be syncing a batch itself; the next waits until it is done.
      sync_cv_.wait(lock, [&] { return !sync_busy_ && (to_sync_.has_value() || sync_stopping_); });
      if (!to_sync_) return;
      batch = std::move(*to_sync_);
      to_sync_.reset();
      sync_busy_ = true;
      failure = sync_failure_;
    }
    sync_cv_.notify_all();
    SyncAndDeliver(batch, std::move(failure));
  }
}

void GroupCommitWriter::SyncAndDeliver(Batch& batch, std::optional<Error> failure) {
  if (!failure && batch.wrote) {
    if (auto s = SyncWal(); !s) {
      RecordSyncFailure(s.error().message);
    } else {
      // The batch is durable whether or not the head file takes it. A head that stays behind is
      // safe (readers in other processes see less, never more, than is durable) and is written
      // again with the next batch, so a full disk here does not stop the store.
      (void)durable_head_->Publish(batch.last_position);
    }
    // Also when a checkpoint's fsync failed on the writer's thread meanwhile: what this batch
    // wrote may have been lost with it.
    std::lock_guard guard(sync_mu_);
    failure = sync_failure_;
  }
  if (!failure && batch.wrote) {
    planner_.Publish(batch.heads);
    {
      std::lock_guard guard(head_mu_);
      head_position_.store(batch.last_position, std::memory_order_release);
    }
    head_cv_.notify_all();
  }
  // Taken before the next batch may be synced, so that it is delivered after this one.
  std::lock_guard delivering(deliver_mu_);
  {
    std::lock_guard guard(sync_mu_);
    synced_heads_.insert(synced_heads_.end(), std::make_move_iterator(batch.heads.begin()),
                         std::make_move_iterator(batch.heads.end()));
    sync_busy_ = false;
  }
  sync_cv_.notify_all();
  if (batch.refused) failure.reset();  // kUnavailable, not the failure's own kIOError
  Deliver(batch, failure);
}

Status GroupCommitWriter::SyncWal() {
  if (!options_.durable) return OkStatus();
  if (!wal_) {
    // SQLite's name for the WAL, owned by the connection.
    wal_name_ = sqlite3_filename_wal(sqlite3_db_filename(db_.raw(), "main"));
    // Through the VFS the connection uses, as SQLite opens the WAL itself.
    sqlite3_vfs* vfs = nullptr;
    if (sqlite3_file_control(db_.raw(), "main", SQLITE_FCNTL_VFS_POINTER, &vfs) != SQLITE_OK ||
        !vfs) {
      return Error::Make(ErrorCode::kIOError, "cannot find the VFS of " + options_.path);
    }
    auto* file = static_cast<sqlite3_file*>(sqlite3_malloc64(static_cast<uint64_t>(vfs->szOsFile)));
    if (!file) return Error::Make(ErrorCode::kIOError, "out of memory opening the WAL");
    std::memset(file, 0, static_cast<size_t>(vfs->szOsFile));
    int out_flags = 0;
    const int opened =
        vfs->xOpen(vfs, wal_name_, file, SQLITE_OPEN_READWRITE | SQLITE_OPEN_WAL, &out_flags);
    if (opened != SQLITE_OK) {
      if (file->pMethods) file->pMethods->xClose(file);
      sqlite3_free(file);
      return Error::Make(ErrorCode::kIOError, std::string("cannot open ") + wal_name_ + ": " +
                                                  sqlite3_errstr(opened) + " (sqlite code " +
                                                  std::to_string(opened) + ")");
    }
    wal_ = file;
    // The WAL's directory entry must be durable too, once.
    std::string dir = std::filesystem::path(options_.path).parent_path().string();
    if (dir.empty()) dir = ".";
    if (int err = SyncFolder(FileSystemOf(options_), dir); err != 0) {
      errno = err;
      return SystemError("fsync of folder " + dir + " failed");
    }
  }
  const auto start = std::chrono::steady_clock::now();
  // fdatasync(2) with SQLite's default VFS.
  if (int rc = wal_->pMethods->xSync(wal_, SQLITE_SYNC_NORMAL); rc != SQLITE_OK) {
    return Error::Make(ErrorCode::kIOError, std::string("fsync of ") + wal_name_ +
                                                " failed: " + sqlite3_errstr(rc) +
                                                " (sqlite code " + std::to_string(rc) + ")");
  }
  fsync_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return OkStatus();
}

int64_t GroupCommitWriter::WaitForHead(int64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(head_mu_);
  head_cv_.wait_for(lock, timeout,
                    [&] { return head_position_.load(std::memory_order_acquire) > after; });
  return head_position_.load(std::memory_order_acquire);
}

StoreStats GroupCommitWriter::Stats() const {
  StoreStats stats;
  stats.appends = appends_.load(std::memory_order_relaxed);
  stats.events = events_.load(std::memory_order_relaxed);
  stats.conflicts = conflicts_.load(std::memory_order_relaxed);
  stats.duplicates = duplicates_.load(std::memory_order_relaxed);
  stats.commits = commits_.load(std::memory_order_relaxed);
  stats.batch_appends = batch_appends_.Snapshot();
  stats.fsync_seconds = fsync_seconds_.Snapshot();
  return stats;
}

void GroupCommitWriter::Deliver(Batch& batch, const std::optional<Error>& failure) {
  DeliverAppends(batch.appends, batch.decisions, failure);
}

}  // namespace evs::store
