// The embedded store: one SQLite file in WAL mode, written by a single thread with group
// commit, read concurrently through a pool of connections.
//
// Schema (inspectable with the sqlite3 shell; see README):
//   events(position INTEGER PRIMARY KEY, stream_id, version, event_id, type, data, metadata,
//          recorded_at_us) with a unique index on (stream_id, version).
//
// Positions are assigned by the writer in commit order, inside the transaction that commits
// them, so a reader never sees position p+1 before p.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "evs/event_store.h"
#include "store/append_validation.h"
#include "store/commit_planner.h"
#include "store/sqlite.h"

namespace evs {
namespace {

using store::AppendDecision;
using store::CommitPlanner;
using store::CommittedId;
using store::Database;
using store::Statement;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS events (
  position       INTEGER PRIMARY KEY,
  stream_id      TEXT    NOT NULL,
  version        INTEGER NOT NULL,
  event_id       TEXT    NOT NULL,
  type           TEXT    NOT NULL,
  data           TEXT    NOT NULL,
  metadata       TEXT    NOT NULL,
  recorded_at_us INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events(stream_id, version);
CREATE TABLE IF NOT EXISTS evs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO evs_meta(key, value) VALUES ('format_version', '1');
)sql";

constexpr std::string_view kEventColumns =
    "position, stream_id, version, event_id, type, data, metadata, recorded_at_us";

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<RecordedEvent> ReadEventRow(const Statement& row) {
  RecordedEvent e;
  e.position = row.Int(0);
  e.stream_id = std::string(row.Text(1));
  e.version = row.Int(2);
  auto id = Uuid::Parse(row.Text(3));
  if (!id) {
    return Error::Make(ErrorCode::kCorruption, "event at position " + std::to_string(e.position) +
                                                   " has a malformed id '" +
                                                   std::string(row.Text(3)) + "'");
  }
  e.id = *id;
  e.type = std::string(row.Text(4));
  e.data = std::string(row.Text(5));
  e.metadata = std::string(row.Text(6));
  e.recorded_at_us = row.Int(7);
  return e;
}

// Reads every row of a prepared, bound statement into events.
Result<std::vector<RecordedEvent>> ReadEvents(Statement& stmt) {
  std::vector<RecordedEvent> events;
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    auto e = ReadEventRow(stmt);
    if (!e.ok()) {
      stmt.Reset();
      return e.error();
    }
    events.push_back(std::move(e).value());
  }
  if (rc != SQLITE_DONE) {
    Error err = stmt.LastError("reading events");
    stmt.Reset();
    return err;
  }
  stmt.Reset();
  return events;
}

// One process at a time per file: an advisory lock on a sibling file, held while open.
class FileLock {
 public:
  static Result<FileLock> Acquire(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Error::Make(ErrorCode::kIOError,
                         "cannot open lock file " + path + ": " + std::strerror(errno));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      return Error::Make(ErrorCode::kUnavailable,
                         "the store is in use by another process (lock " + path +
                             "); stop it, or point this command at another data folder");
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

struct ReadConnection {
  Database db;
  Statement stream_forward, stream_backward, log, streams;
};

class SqliteEventStore final : public EventStore {
 public:
  SqliteEventStore(SqliteStoreOptions options, FileLock lock, Database writer)
      : options_(std::move(options)),
        lock_(std::move(lock)),
        writer_(std::move(writer)),
        planner_(options_.recent_event_ids) {}

  ~SqliteEventStore() override {
    {
      std::lock_guard guard(queue_mu_);
      stopping_ = true;
    }
    queue_cv_.notify_all();
    if (writer_thread_.joinable()) writer_thread_.join();
  }

  Status Init() {
    if (auto s = writer_.Exec(kSchema); !s) return s;
    for (auto* sql : {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"}) {
      auto stmt = writer_.Prepare(sql);
      if (!stmt) return stmt.error();
      (sql[0] == 'B' ? begin_ : sql[0] == 'C' ? commit_ : rollback_) = std::move(stmt).value();
    }
    auto insert = writer_.Prepare(
        "INSERT INTO events(position, stream_id, version, event_id, type, data, metadata, "
        "recorded_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert) return insert.error();
    insert_ = std::move(insert).value();
    auto ids = writer_.Prepare(
        "SELECT event_id, position FROM events WHERE stream_id = ? AND version >= ? "
        "ORDER BY version LIMIT ?");
    if (!ids) return ids.error();
    ids_at_ = std::move(ids).value();
    if (auto s = LoadState(); !s) return s;
    writer_thread_ = std::thread([this] { WriterLoop(); });
    return OkStatus();
  }

  Result<AppendResult> Append(std::string_view stream_id, ExpectedVersion expected,
                              std::vector<EventData> events) override {
    if (auto s = store::ValidateAppend(options_.limits, stream_id, events); !s) return s.error();
    PendingAppend pending{std::string(stream_id), expected, std::move(events), {}};
    auto done = pending.done.get_future();
    {
      std::lock_guard guard(queue_mu_);
      if (stopping_) return Error::Make(ErrorCode::kUnavailable, "the store is closing");
      queue_.push_back(&pending);
    }
    queue_cv_.notify_one();
    return done.get();
  }

  Result<StreamPage> ReadStream(std::string_view stream_id,
                                const ReadStreamOptions& options) override {
    auto conn = AcquireReader();
    if (!conn) return conn.error();
    StreamPage page;
    page.stream_version = planner_.Heads().Get(stream_id);
    if (page.stream_version == 0) return NotFound(stream_id);
    const bool forward = options.direction == Direction::kForward;
    Statement& stmt = forward ? (*conn)->stream_forward : (*conn)->stream_backward;
    int64_t from = options.from;
    if (forward && from < 1) from = 1;
    if (!forward && (from <= 0 || from > page.stream_version)) from = page.stream_version;
    stmt.Bind(1, stream_id);
    stmt.Bind(2, from);
    stmt.Bind(3, static_cast<int64_t>(options.limit));
    auto events = ReadEvents(stmt);
    ReleaseReader(std::move(conn).value());
    if (!events) return events.error();
    page.events = std::move(events).value();
    if (!page.events.empty()) {
      page.stream_version = std::max(page.stream_version, page.events.back().version);
    }
    page.end_of_stream = page.events.empty() || page.events.size() < options.limit ||
                         (forward ? page.events.back().version >= page.stream_version
                                  : page.events.back().version <= 1);
    return page;
  }

  Result<LogPage> ReadLog(int64_t after, size_t limit) override {
    auto conn = AcquireReader();
    if (!conn) return conn.error();
    LogPage page;
    page.head_position = head_position_.load(std::memory_order_acquire);
    Statement& stmt = (*conn)->log;
    stmt.Bind(1, after);
    stmt.Bind(2, static_cast<int64_t>(limit));
    auto events = ReadEvents(stmt);
    ReleaseReader(std::move(conn).value());
    if (!events) return events.error();
    page.events = std::move(events).value();
    page.next_position = page.events.empty() ? after : page.events.back().position;
    page.head_position = std::max(page.head_position, page.next_position);
    return page;
  }

  Result<StreamsPage> ListStreams(std::string_view after, size_t limit) override {
    auto conn = AcquireReader();
    if (!conn) return conn.error();
    Statement& stmt = (*conn)->streams;
    stmt.Bind(1, after);
    stmt.Bind(2, static_cast<int64_t>(limit));
    StreamsPage page;
    int rc;
    while ((rc = stmt.Step()) == SQLITE_ROW) {
      page.streams.push_back(StreamInfo{std::string(stmt.Text(0)), stmt.Int(1)});
    }
    Error err = stmt.LastError("listing streams");
    stmt.Reset();
    ReleaseReader(std::move(conn).value());
    if (rc != SQLITE_DONE) return err;
    if (page.streams.size() == limit && limit > 0) page.next_after = page.streams.back().stream_id;
    return page;
  }

  Result<int64_t> StreamVersion(std::string_view stream_id) override {
    return planner_.Heads().Get(stream_id);
  }

  Result<int64_t> HeadPosition() override { return head_position_.load(std::memory_order_acquire); }

 private:
  struct PendingAppend {
    std::string stream;
    ExpectedVersion expected;
    std::vector<EventData> events;
    std::promise<Result<AppendResult>> done;
  };

  static Error NotFound(std::string_view stream_id) {
    return Error::Make(ErrorCode::kNotFound, "stream '" + std::string(stream_id) + "' not found");
  }

  Status LoadState() {
    auto heads = writer_.Prepare("SELECT stream_id, MAX(version) FROM events GROUP BY stream_id");
    if (!heads) return heads.error();
    int rc;
    while ((rc = heads->Step()) == SQLITE_ROW) planner_.LoadHead(heads->Text(0), heads->Int(1));
    if (rc != SQLITE_DONE) return heads->LastError("loading stream versions");

    auto head = writer_.Prepare("SELECT COALESCE(MAX(position), 0) FROM events");
    if (!head) return head.error();
    if (head->Step() != SQLITE_ROW) return head->LastError("loading the head position");
    head_position_ = head->Int(0);

    auto recent = writer_.Prepare(
        "SELECT event_id, stream_id, version, position FROM events WHERE position > ? "
        "ORDER BY position");
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

  Result<std::vector<CommittedId>> IdsAt(std::string_view stream, int64_t first, size_t count) {
    ids_at_.Bind(1, stream);
    ids_at_.Bind(2, first);
    ids_at_.Bind(3, static_cast<int64_t>(count));
    std::vector<CommittedId> ids;
    int rc;
    while ((rc = ids_at_.Step()) == SQLITE_ROW) {
      auto id = Uuid::Parse(ids_at_.Text(0));
      ids.push_back(CommittedId{id.value_or(Uuid{}), ids_at_.Int(1)});
    }
    Error err = ids_at_.LastError("reading committed event ids");
    ids_at_.Reset();
    if (rc != SQLITE_DONE) return err;
    return ids;
  }

  void WriterLoop() {
    std::vector<PendingAppend*> batch;
    for (;;) {
      {
        std::unique_lock lock(queue_mu_);
        queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything queued is done
        size_t n = std::min(queue_.size(), options_.max_batch_appends);
        batch.assign(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      }
      CommitBatch(batch);
      batch.clear();
    }
  }

  // Writes every append of the batch that passes its checks in one transaction and one fsync,
  // then acknowledges each: a failed check fails only its own append.
  void CommitBatch(const std::vector<PendingAppend*>& batch) {
    if (!failure_.empty()) {
      for (auto* p : batch) p->done.set_value(Error::Make(ErrorCode::kUnavailable, failure_));
      return;
    }
    std::vector<AppendDecision> decisions;
    decisions.reserve(batch.size());
    int64_t next_position = head_position_.load(std::memory_order_relaxed) + 1;
    const int64_t now = NowMicros();
    auto ids_at = [this](std::string_view s, int64_t first, size_t count) {
      return IdsAt(s, first, count);
    };
    bool began = false;
    std::optional<Error> batch_error;
    for (auto* p : batch) {
      decisions.push_back(planner_.Plan(p->stream, p->expected, p->events, next_position, ids_at));
      const AppendDecision& d = decisions.back();
      if (d.kind != AppendDecision::Kind::kWrite) continue;
      if (!began) {
        if (begin_.Step() != SQLITE_DONE) {
          batch_error = begin_.LastError("cannot begin a transaction");
          begin_.Reset();
          break;
        }
        begin_.Reset();
        began = true;
      }
      if (auto s = InsertEvents(*p, d.result, now); !s) {
        batch_error = s.error();
        break;
      }
      next_position = d.result.last_position + 1;
    }
    if (began && !batch_error) {
      int rc = commit_.Step();
      commit_.Reset();
      if (rc != SQLITE_DONE) {
        batch_error = commit_.LastError("cannot commit");
        // A failed commit may have left the file in a state only recovery can judge: refuse
        // writes until the store is reopened rather than guess.
        if ((rc & 0xff) != SQLITE_FULL) {
          failure_ = "the store failed to commit (" + batch_error->message +
                     ") and refuses writes until it is reopened";
        }
      }
    }
    if (batch_error) {
      if (began) {
        rollback_.Step();
        rollback_.Reset();
      }
      planner_.Discard();
      for (auto* p : batch) p->done.set_value(*batch_error);
      return;
    }
    planner_.Publish();
    head_position_.store(next_position - 1, std::memory_order_release);
    for (size_t i = 0; i < batch.size(); ++i) {
      AppendDecision& d = decisions[i];
      if (d.kind == AppendDecision::Kind::kFail) {
        batch[i]->done.set_value(std::move(*d.error));
      } else {
        batch[i]->done.set_value(d.result);
      }
    }
  }

  Status InsertEvents(const PendingAppend& p, const AppendResult& r, int64_t now) {
    for (size_t i = 0; i < p.events.size(); ++i) {
      const EventData& e = p.events[i];
      const std::string id = e.id.ToString();
      insert_.Bind(1, r.first_position + static_cast<int64_t>(i));
      insert_.Bind(2, p.stream);
      insert_.Bind(3, r.first_version + static_cast<int64_t>(i));
      insert_.Bind(4, id);
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

  Result<std::unique_ptr<ReadConnection>> AcquireReader() {
    {
      std::lock_guard guard(readers_mu_);
      if (!readers_.empty()) {
        auto conn = std::move(readers_.back());
        readers_.pop_back();
        return conn;
      }
    }
    auto db = Database::Open(options_.path, /*read_only=*/true);
    if (!db) return db.error();
    auto conn = std::make_unique<ReadConnection>();
    conn->db = std::move(db).value();
    if (auto s = conn->db.Exec("PRAGMA mmap_size = 268435456"); !s) return s.error();
    const std::string cols(kEventColumns);
    struct {
      Statement* target;
      std::string sql;
    } statements[] = {
        {&conn->stream_forward, "SELECT " + cols +
                                    " FROM events WHERE stream_id = ? AND version >= ? "
                                    "ORDER BY version LIMIT ?"},
        {&conn->stream_backward, "SELECT " + cols +
                                     " FROM events WHERE stream_id = ? AND version <= ? "
                                     "ORDER BY version DESC LIMIT ?"},
        {&conn->log,
         "SELECT " + cols + " FROM events WHERE position > ? ORDER BY position LIMIT ?"},
        {&conn->streams,
         "SELECT stream_id, MAX(version) FROM events WHERE stream_id > ? GROUP BY stream_id "
         "ORDER BY stream_id LIMIT ?"},
    };
    for (auto& s : statements) {
      auto stmt = conn->db.Prepare(s.sql);
      if (!stmt) return stmt.error();
      *s.target = std::move(stmt).value();
    }
    return conn;
  }

  void ReleaseReader(std::unique_ptr<ReadConnection> conn) {
    std::lock_guard guard(readers_mu_);
    if (readers_.size() < options_.read_connections) readers_.push_back(std::move(conn));
  }

  const SqliteStoreOptions options_;
  FileLock lock_;
  Database writer_;  // used by the writer thread only (and Init)
  Statement begin_, commit_, rollback_, insert_, ids_at_;
  CommitPlanner planner_;
  std::atomic<int64_t> head_position_{0};
  std::string failure_;  // writer thread only: set once writes must stop

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<PendingAppend*> queue_;
  bool stopping_ = false;
  std::thread writer_thread_;

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<ReadConnection>> readers_;
};

}  // namespace

Result<std::unique_ptr<EventStore>> OpenSqliteEventStore(const SqliteStoreOptions& options) {
  if (options.path.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "the store needs a file path");
  }
  auto lock = FileLock::Acquire(options.path + ".lock");
  if (!lock) return lock.error();
  auto db = Database::Open(options.path, /*read_only=*/false);
  if (!db) return db.error();
  const std::string pragmas = std::string("PRAGMA journal_mode = WAL; PRAGMA synchronous = ") +
                              (options.durable ? "FULL" : "OFF") +
                              "; PRAGMA cache_size = -65536; PRAGMA journal_size_limit = 67108864;";
  if (auto s = db->Exec(pragmas); !s) return s.error();
  auto store =
      std::make_unique<SqliteEventStore>(options, std::move(lock).value(), std::move(db).value());
  if (auto s = store->Init(); !s) return s.error();
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace evs
