// A read-only view of an embedded store's file for other processes (consumer-group members,
// `evs log --follow`): no lock, no writer; every read asks SQLite, bounded by the durable head
// that the owner publishes after each fsync (durable_head.h), so that it never hands out a
// commit that a power loss could take back. WaitForHead() is woken by inotify when the owner
// writes the folder (the head file among others).
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>

#include "evs/event_store.h"
#include "store/durable_head.h"
#include "store/read_validation.h"
#include "store/sqlite.h"
#include "store/sqlite_schema.h"
#include "store/stream_lifecycle.h"

namespace evs {
namespace {

using store::Database;
using store::Statement;

class SqliteReaderStore final : public EventStore {
 public:
  SqliteReaderStore(std::string path, std::shared_ptr<FileSystem> fs, Database db, int watch)
      : path_(std::move(path)), fs_(std::move(fs)), db_(std::move(db)), watch_(watch) {}
  ~SqliteReaderStore() override {
    if (watch_ >= 0) close(watch_);
  }

  Status Prepare() {
    // A store that no owner of this release has opened has no stream_meta table (read-only
    // here, it cannot be added): its streams have no lifecycle.
    auto has_meta = db_.Prepare("SELECT 1 FROM sqlite_master WHERE name = 'stream_meta'");
    if (!has_meta) return has_meta.error();
    const bool lifecycle = has_meta->Step() == SQLITE_ROW;
    has_meta->Reset();
    const std::string meta_columns =
        lifecycle ? ", m.max_count, m.max_age_s, m.truncate_before, m.custom, m.deleted_through, "
                    "m.hard_deleted FROM streams s LEFT JOIN stream_meta m "
                    "ON m.stream_no = s.stream_no "
                  : ", NULL, NULL, NULL, NULL, NULL, NULL FROM streams s ";
    const std::string stream_select(store::kSelectStreamEvents);
    struct {
      Statement* target;
      std::string sql;
    } statements[] = {
        {&head_, "SELECT COALESCE(MAX(position), 0) FROM events"},
        // The newest durable version: the index is walked from the top, past the few events
        // that are not durable yet.
        {&stream_,
         "SELECT s.stream_no, (SELECT version FROM events e WHERE e.stream_no = s.stream_no "
         "AND e.position <= ?2 ORDER BY version DESC LIMIT 1)" +
             meta_columns + "WHERE s.stream_id = ?1"},
        {&forward_, stream_select + std::string(store::kStreamForward)},
        {&backward_, stream_select + std::string(store::kStreamBackward)},
        {&log_, std::string(store::kSelectEvents) +
                    "WHERE e.position > ? AND e.position <= ? ORDER BY e.position LIMIT ?"},
        {&streams_,
         "SELECT s.stream_id, (SELECT version FROM events e WHERE e.stream_no = s.stream_no "
         "AND e.position <= ?3 ORDER BY version DESC LIMIT 1)" +
             meta_columns + "WHERE s.stream_id > ?1 ORDER BY s.stream_id LIMIT ?2"},
    };
    for (auto& s : statements) {
      auto stmt = db_.Prepare(s.sql);
      if (!stmt) return stmt.error();
      *s.target = std::move(stmt).value();
    }
    return OkStatus();
  }

  Result<AppendResult> Append(std::string_view, ExpectedVersion, std::vector<EventData>) override {
    return Error::Make(ErrorCode::kUnavailable,
                       "this store is a read-only view; append through the process that owns it");
  }

  Result<StreamPage> ReadStream(std::string_view stream_id,
                                const ReadStreamOptions& options) override {
    if (auto s = store::ValidateReadStream(options); !s) return s.error();
    std::lock_guard guard(mu_);
    auto bound = DurableBound();
    if (!bound) return bound.error();
    stream_.Bind(1, stream_id);
    stream_.Bind(2, *bound);
    store::StreamHead head;
    if (stream_.Step() == SQLITE_ROW) {
      head.number = stream_.Int(0);
      head.version = stream_.Int(1);
      store::LoadLifecycle(stream_, 2, head);
    }
    stream_.Reset();
    if (auto unreadable = store::UnreadableStream(stream_id, head)) return *unreadable;
    return store::ReadStreamPage(forward_, backward_, stream_id, head.number, head.version, options,
                                 store::FirstVisibleVersion(head),
                                 store::AgeCutoffMicros(head, SystemClock()->NowMicros()));
  }

  Result<LogPage> ReadLog(int64_t after, size_t limit) override {
    if (auto s = store::ValidateReadLog(after, limit); !s) return s.error();
    std::lock_guard guard(mu_);
    auto head = Head();
    if (!head.ok()) return head.error();
    log_.Bind(1, after);
    log_.Bind(2, *head);  // nothing that is not durable yet
    log_.Bind(3, static_cast<int64_t>(limit));
    auto events = store::ReadEvents(log_);
    if (!events) return events.error();
    LogPage page;
    page.events = std::move(events).value();
    page.next_position = page.events.empty() ? after : page.events.back().position;
    page.head_position = std::max(*head, page.next_position);
    return page;
  }

  Result<StreamsPage> ListStreams(std::string_view after, size_t limit) override {
    if (auto s = store::ValidateListStreams(limit); !s) return s.error();
    std::lock_guard guard(mu_);
    auto bound = DurableBound();
    if (!bound) return bound.error();
    streams_.Bind(1, after);
    streams_.Bind(2, static_cast<int64_t>(limit));
    streams_.Bind(3, *bound);
    StreamsPage page;
    size_t rows = 0;
    int rc;
    while ((rc = streams_.Step()) == SQLITE_ROW) {
      ++rows;
      // A stream whose first commit is not durable yet is not listed yet; nor a deleted one.
      store::StreamHead head;
      head.version = streams_.Int(1);
      store::LoadLifecycle(streams_, 2, head);
      if (!store::UnreadableStream({}, head)) {
        page.streams.push_back(StreamInfo{std::string(streams_.Text(0)), head.version});
      }
      if (rows == limit) page.next_after = std::string(streams_.Text(0));
    }
    Error error = streams_.LastError("listing streams");
    streams_.Reset();
    if (rc != SQLITE_DONE) return error;
    return page;
  }

  Result<int64_t> StreamVersion(std::string_view stream_id) override {
    std::lock_guard guard(mu_);
    auto bound = DurableBound();
    if (!bound) return bound.error();
    stream_.Bind(1, stream_id);
    stream_.Bind(2, *bound);
    store::StreamHead head;
    if (stream_.Step() == SQLITE_ROW) {
      head.version = stream_.Int(1);
      store::LoadLifecycle(stream_, 2, head);
    }
    stream_.Reset();
    return head.Deleted() ? 0 : head.version;
  }

  Result<int64_t> HeadPosition() override {
    std::lock_guard guard(mu_);
    return Head();
  }

  Result<int64_t> WaitForHead(int64_t after, std::chrono::milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto head = HeadPosition();
      if (!head.ok() || *head > after) return head;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return head;
      // A write in the folder, or at most 50 ms: the write that wakes us can come just before
      // the one that publishes the commit, and the next write may be long in coming.
      pollfd p{watch_, POLLIN, 0};
      poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 50)));
      char buffer[4096];
      while (::read(watch_, buffer, sizeof buffer) > 0) {
      }
    }
  }

 private:
  // The last position known durable (with mu_ held). Without a head file (no owner has opened
  // the store since a release that wrote none), whatever the files hold is made durable once
  // here, and all of it is readable: with no owner nothing is being written.
  Result<int64_t> DurableBound() {
    auto head = store::ReadDurableHead(*fs_, path_);
    if (!head) return head.error();
    if (*head) return **head;
    if (!synced_without_head_) {
      for (const std::string& file : {path_ + "-wal", path_}) {
        const int fd = fs_->Open(file.c_str(), O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0) {
          if (errno == ENOENT) continue;
          return Error::Make(ErrorCode::kIOError,
                             "cannot open " + file + " to sync it: " + std::strerror(errno));
        }
        const int rc = fs_->Fsync(fd);
        const int err = errno;
        fs_->Close(fd);
        if (rc != 0) {
          return Error::Make(ErrorCode::kIOError,
                             "fsync of " + file + " failed: " + std::strerror(err));
        }
      }
      synced_without_head_ = true;
    }
    return INT64_MAX;
  }

  Result<int64_t> Head() {  // with mu_ held
    auto bound = DurableBound();
    if (!bound) return bound.error();
    int rc = head_.Step();
    const int64_t head = rc == SQLITE_ROW ? head_.Int(0) : 0;
    Error error = head_.LastError("reading the head position");
    head_.Reset();
    if (rc != SQLITE_ROW) return error;
    return std::min(head, *bound);
  }

  const std::string path_;
  const std::shared_ptr<FileSystem> fs_;
  bool synced_without_head_ = false;
  std::mutex mu_;
  Database db_;
  const int watch_;
  Statement head_, stream_, forward_, backward_, log_, streams_;
};

}  // namespace

Result<std::unique_ptr<EventStore>> OpenSqliteEventStoreReader(
    const std::string& path, std::shared_ptr<FileSystem> file_system) {
  if (!file_system) file_system = RealFileSystem();
  struct stat st;
  if (file_system->Stat(path.c_str(), &st) != 0) {
    return Error::Make(ErrorCode::kNotFound, "no store at " + path);
  }
  auto db = Database::Open(path, /*read_only=*/true);
  if (!db) return db.error();
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int watch = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (watch < 0 || inotify_add_watch(watch, dir.c_str(), IN_MODIFY | IN_CREATE) < 0) {
    if (watch >= 0) close(watch);
    return Error::Make(ErrorCode::kIOError, "cannot watch " + dir + " for commits");
  }
  auto store = std::make_unique<SqliteReaderStore>(path, std::move(file_system),
                                                   std::move(db).value(), watch);
  if (auto s = store->Prepare(); !s) return s.error();
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace evs
