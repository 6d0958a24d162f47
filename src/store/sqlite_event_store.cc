// The embedded store: one SQLite file in WAL mode, written through group commit (a writer and a
// sync thread, see group_commit.h), read concurrently through a pool of connections.
//
// Readers see only what is durable: reads are bounded by the published heads and position, so
// a reader never sees an event that a crash could still take back, nor position p+1 before p.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>

#include "evs/event_store.h"
#include "store/append_validation.h"
#include "store/commit_planner.h"
#include "store/file_lock.h"
#include "store/group_commit.h"
#include "store/read_validation.h"
#include "store/sqlite.h"
#include "store/sqlite_scavenger.h"
#include "store/sqlite_schema.h"
#include "store/stream_lifecycle.h"

namespace evs {
namespace {

using store::CommitPlanner;
using store::Database;
using store::FileLock;
using store::Statement;

struct ReadConnection {
  Database db;
  Statement stream_forward, stream_backward, log, streams;
};

class SqliteEventStore final : public EventStore {
 public:
  SqliteEventStore(SqliteStoreOptions options, FileLock lock)
      : options_(std::move(options)), lock_(std::move(lock)), planner_(options_.recent_event_ids) {}

  Status Init(Database db) {
    if (auto s = db.Exec(store::kSchema); !s) return s;
    if (auto s = LoadState(db); !s) return s;
    store::GroupCommitOptions writer_options{options_.path, options_.durable,
                                             std::max<size_t>(1, options_.max_batch_appends)};
    writer_options.file_system = options_.file_system.get();
    writer_options.clock = options_.clock.get();
    writer_.emplace(std::move(writer_options), std::move(db), planner_, head_position_);
    return writer_->Start();
  }

  Result<AppendResult> Append(std::string_view stream_id, ExpectedVersion expected,
                              std::vector<EventData> events) override {
    if (auto s = store::ValidateAppend(options_.limits, stream_id, expected, events); !s)
      return s.error();
    return writer_->Append(stream_id, expected, std::move(events));
  }

  void AppendAsync(std::string_view stream_id, ExpectedVersion expected,
                   std::vector<EventData> events, AppendCallback callback) override {
    if (auto s = store::ValidateAppend(options_.limits, stream_id, expected, events); !s) {
      callback(s.error());
      return;
    }
    writer_->AppendAsync(stream_id, expected, std::move(events), std::move(callback));
  }

  Result<StreamPage> ReadStream(std::string_view stream_id,
                                const ReadStreamOptions& options) override {
    if (auto s = store::ValidateReadStream(options); !s) return s.error();
    const store::StreamHead head = planner_.Heads().Find(stream_id);
    if (auto unreadable = store::UnreadableStream(stream_id, head)) return *unreadable;
    const int64_t first = store::FirstVisibleVersion(head);
    const int64_t cutoff = store::AgeCutoffMicros(head, options_.clock->NowMicros());
    return WithReader([&](ReadConnection& conn) {
      return store::ReadStreamPage(conn.stream_forward, conn.stream_backward, stream_id,
                                   head.number, head.version, options, first, cutoff);
    });
  }

  Result<LogPage> ReadLog(int64_t after, size_t limit) override {
    if (auto s = store::ValidateReadLog(after, limit); !s) return s.error();
    LogPage page;
    page.head_position = head_position_.load(std::memory_order_acquire);
    auto events = WithReader([&](ReadConnection& conn) {
      conn.log.Bind(1, after);
      conn.log.Bind(2, page.head_position);  // nothing that is not durable yet
      conn.log.Bind(3, static_cast<int64_t>(limit));
      const int64_t available = page.head_position - after;
      return store::ReadEvents(
          conn.log, {}, std::min(limit, static_cast<size_t>(std::max<int64_t>(available, 0))));
    });
    if (!events) return events.error();
    page.events = std::move(events).value();
    page.next_position = page.events.empty() ? after : page.events.back().position;
    return page;
  }

  Result<StreamsPage> ListStreams(std::string_view after, size_t limit) override {
    if (auto s = store::ValidateListStreams(limit); !s) return s.error();
    return WithReader([&](ReadConnection& conn) -> Result<StreamsPage> {
      Statement& stmt = conn.streams;
      stmt.Bind(1, after);
      stmt.Bind(2, static_cast<int64_t>(limit));
      StreamsPage page;
      size_t rows = 0;
      int rc;
      while ((rc = stmt.Step()) == SQLITE_ROW) {
        ++rows;
        std::string stream(stmt.Text(0));
        // Only what is durable: a stream whose first commit is still syncing is not listed yet;
        // nor a deleted one.
        const store::StreamHead head = planner_.Heads().Find(stream);
        if (!store::UnreadableStream(stream, head)) {
          page.streams.push_back(StreamInfo{std::move(stream), head.version});
        }
        if (rows == limit) page.next_after = std::string(stmt.Text(0));
      }
      Error error = stmt.LastError("listing streams");
      stmt.Reset();
      if (rc != SQLITE_DONE) return error;
      return page;
    });
  }

  Result<int64_t> StreamVersion(std::string_view stream_id) override {
    const store::StreamHead head = planner_.Heads().Find(stream_id);
    return head.Deleted() ? 0 : head.version;
  }

  Result<int64_t> HeadPosition() override { return head_position_.load(std::memory_order_acquire); }

  Result<int64_t> WaitForHead(int64_t after, std::chrono::milliseconds timeout) override {
    return writer_->WaitForHead(after, timeout);
  }

  StoreStats Stats() override {
    StoreStats stats = writer_->Stats();
    for (const char* suffix : {"", "-wal", "-shm"}) stats.file_bytes += FileBytes(suffix);
    return stats;
  }

  Result<StreamLifecycle> GetStreamLifecycle(std::string_view stream_id) override {
    return store::LifecycleOf(stream_id, planner_.Heads().Find(stream_id));
  }

  Status SetStreamMetadata(std::string_view stream_id, const StreamMetadata& metadata) override {
    if (auto s = store::ValidateName("stream id", stream_id, options_.limits.max_stream_id_bytes);
        !s) {
      return s;
    }
    if (auto s = ValidateStreamMetadata(metadata); !s) return s;
    store::LifecycleChange change;
    change.metadata = std::make_shared<const StreamMetadata>(metadata);
    return writer_->Change(stream_id, ExpectedVersion::Any(), change);
  }

  Status DeleteStream(std::string_view stream_id, DeleteMode mode,
                      ExpectedVersion expected) override {
    if (auto s = store::ValidateName("stream id", stream_id, options_.limits.max_stream_id_bytes);
        !s) {
      return s;
    }
    store::LifecycleChange change;
    change.kind = mode == DeleteMode::kHard ? store::LifecycleChange::Kind::kHardDelete
                                            : store::LifecycleChange::Kind::kSoftDelete;
    return writer_->Change(stream_id, expected, change);
  }

  Result<ScavengeReport> Scavenge(const ScavengeOptions& options) override {
    store::ScavengeContext context{*writer_, planner_, *options_.clock,
                                   [this] { return FileBytes(""); }};
    return store::ScavengeSqlite(context, options);
  }

 private:
  int64_t FileBytes(const char* suffix) const {
    struct stat st;
    const std::string file = options_.path + suffix;
    return options_.file_system->Stat(file.c_str(), &st) == 0 ? st.st_size : 0;
  }

  Status LoadState(Database& db) {
    auto heads = db.Prepare(
        "SELECT s.stream_id, s.stream_no, (SELECT MAX(version) FROM events e "
        "WHERE e.stream_no = s.stream_no), m.max_count, m.max_age_s, m.truncate_before, "
        "m.custom, m.deleted_through, m.hard_deleted FROM streams s "
        "LEFT JOIN stream_meta m ON m.stream_no = s.stream_no");
    if (!heads) return heads.error();
    int rc;
    while ((rc = heads->Step()) == SQLITE_ROW) {
      store::StreamHead head;
      head.number = heads->Int(1);
      head.version = heads->Int(2);
      store::LoadLifecycle(*heads, 3, head);
      planner_.LoadHead(heads->Text(0), head);
    }
    if (rc != SQLITE_DONE) return heads->LastError("loading stream versions");

    auto head = db.Prepare("SELECT COALESCE(MAX(position), 0) FROM events");
    if (!head) return head.error();
    if (head->Step() != SQLITE_ROW) return head->LastError("loading the head position");
    head_position_ = head->Int(0);

    auto recent = db.Prepare(
        "SELECT e.event_id, s.stream_id, e.version, e.position FROM events e "
        "JOIN streams s ON s.stream_no = e.stream_no WHERE e.position > ? ORDER BY e.position");
    if (!recent) return recent.error();
    recent->Bind(1, head_position_ - static_cast<int64_t>(options_.recent_event_ids));
    while ((rc = recent->Step()) == SQLITE_ROW) {
      auto id = Uuid::Parse(recent->Text(0));
      if (!id) {
        return Error::Make(
            ErrorCode::kCorruption,
            "event at position " + std::to_string(recent->Int(3)) + " has a malformed id");
      }
      planner_.LoadRecentId(*id, recent->Text(1), recent->Int(2), recent->Int(3));
    }
    if (rc != SQLITE_DONE) return recent->LastError("loading recent event ids");
    return OkStatus();
  }

  // Runs `read` on a pooled read connection.
  template <class Read>
  auto WithReader(Read&& read) -> decltype(read(std::declval<ReadConnection&>())) {
    auto conn = AcquireReader();
    if (!conn) return conn.error();
    auto result = read(**conn);
    std::lock_guard guard(readers_mu_);
    if (readers_.size() < options_.read_connections) readers_.push_back(std::move(*conn));
    return result;
  }

  Result<std::unique_ptr<ReadConnection>> AcquireReader() {
    {
      std::lock_guard guard(readers_mu_);
      if (!readers_.empty()) {
        auto conn = std::move(readers_.back());
        readers_.pop_back();
        return conn;
      }
    }
    auto db = Database::Open(options_.path, /*read_only=*/true, options_.vfs);
    if (!db) return db.error();
    auto conn = std::make_unique<ReadConnection>();
    conn->db = std::move(db).value();
    if (auto s = conn->db.Exec("PRAGMA mmap_size = 268435456"); !s) return s.error();
    const std::string select(store::kSelectEvents);
    const std::string select_stream(store::kSelectStreamEvents);
    struct {
      Statement* target;
      std::string sql;
    } statements[] = {
        {&conn->stream_forward, select_stream + std::string(store::kStreamForward)},
        {&conn->stream_backward, select_stream + std::string(store::kStreamBackward)},
        {&conn->log,
         select + "WHERE e.position > ? AND e.position <= ? ORDER BY e.position LIMIT ?"},
        {&conn->streams,
         "SELECT stream_id FROM streams WHERE stream_id > ? ORDER BY stream_id LIMIT ?"},
    };
    for (auto& s : statements) {
      auto stmt = conn->db.Prepare(s.sql);
      if (!stmt) return stmt.error();
      *s.target = std::move(stmt).value();
    }
    return conn;
  }

  const SqliteStoreOptions options_;
  FileLock lock_;
  CommitPlanner planner_;
  std::atomic<int64_t> head_position_{0};  // the last durable position
  std::optional<store::GroupCommitWriter> writer_;

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<ReadConnection>> readers_;
};

}  // namespace

Result<std::unique_ptr<EventStore>> OpenSqliteEventStore(const SqliteStoreOptions& options) {
  if (options.path.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "the store needs a file path");
  }
  SqliteStoreOptions opened = options;
  if (!opened.file_system) opened.file_system = RealFileSystem();
  if (!opened.clock) opened.clock = SystemClock();
  auto lock = FileLock::Acquire(*opened.file_system, options.path + ".lock");
  if (!lock) return lock.error();
  auto db = Database::Open(options.path, /*read_only=*/false, options.vfs);
  if (!db) return db.error();
  // Commits are made durable by the sync thread's fdatasync of the WAL (group_commit.h);
  // synchronous=NORMAL keeps SQLite's own syncs around checkpoints.
  // auto_vacuum takes effect only on a new, empty file (sqlite_schema.h).
  const std::string pragmas = std::string(
                                  "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; "
                                  "PRAGMA synchronous = ") +
                              (options.durable ? "NORMAL" : "OFF") +
                              "; PRAGMA cache_size = -65536; PRAGMA journal_size_limit = 67108864;";
  if (auto s = db->Exec(pragmas); !s) return s.error();
  auto store = std::make_unique<SqliteEventStore>(std::move(opened), std::move(lock).value());
  if (auto s = store->Init(std::move(db).value()); !s) return s.error();
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace evs
