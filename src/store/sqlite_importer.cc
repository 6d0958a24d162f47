#include "store/sqlite_importer.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <unordered_map>

#include "common/system_error.h"
#include "store/durable_head.h"
#include "store/file_lock.h"
#include "store/import_checks.h"
#include "store/sqlite.h"
#include "store/sqlite_schema.h"

namespace evs::store {
namespace {

// Events per transaction: big enough that commits cost nothing, small enough that the dirty
// pages of one stay in the cache.
constexpr size_t kEventsPerCommit = 100000;

Status FsyncPath(FileSystem& fs, const std::string& path, int flags, const std::string& what) {
  int fd = fs.Open(path.c_str(), flags | O_CLOEXEC, 0);
  if (fd < 0) return SystemError("cannot open " + what + " " + path);
  int rc = fs.Fsync(fd);
  const int err = errno;
  fs.Close(fd);
  if (rc != 0) return SystemError("fsync of " + what + " " + path + " failed", err);
  return OkStatus();
}

bool Exists(FileSystem& fs, const std::string& path) {
  struct stat st;
  return fs.Lstat(path.c_str(), &st) == 0;
}

// Removes the database file and whatever SQLite keeps beside it.
Status RemoveDatabaseFiles(FileSystem& fs, const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string file = path + suffix;
    if (fs.Unlink(file.c_str()) != 0 && errno != ENOENT) {
      return SystemError("cannot remove " + file);
    }
  }
  return OkStatus();
}

// Moves `from` to `to` unless something is at `to` by then: an importer never overwrites.
Status RenameNoReplace(FileSystem& fs, const std::string& from, const std::string& to) {
  if (fs.RenameNoReplace(from.c_str(), to.c_str()) == 0) return OkStatus();
  if (errno == EEXIST) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "something appeared at " + to + " during the import; it is left as it is");
  }
  // Some file systems cannot refuse atomically; checking first is the best left.
  if (errno != EINVAL && errno != ENOSYS) return SystemError("cannot move " + from + " to " + to);
  if (Exists(fs, to)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "something appeared at " + to + " during the import; it is left as it is");
  }
  if (fs.Rename(from.c_str(), to.c_str()) != 0) {
    return SystemError("cannot move " + from + " to " + to);
  }
  return OkStatus();
}

class Importer final : public SqliteImporter {
 public:
  Importer(std::string path, std::string temp, Database db, FileSystem& fs, FileLock lock)
      : path_(std::move(path)),
        temp_(std::move(temp)),
        db_(std::move(db)),
        fs_(fs),
        lock_(std::move(lock)) {}

  ~Importer() override {
    if (!finished_) {
      Close();
      (void)RemoveDatabaseFiles(fs_, temp_);  // nothing to report to from a destructor
    }
    // The lock file goes with the import (a new one is made by the next).
    ::unlink((path_ + ".importing.lock").c_str());
  }

  Status Init() {
    // Nothing to protect while loading: a failed or interrupted import is thrown away whole.
    // journal_mode first, so that the schema is written without a journal too; auto_vacuum
    // as the store creates its files (sqlite_schema.h), before any table.
    if (auto s = db_.Exec("PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = OFF; "
                          "PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;");
        !s) {
      return s;
    }
    if (auto s = db_.Exec(kSchema); !s) return s;
    struct {
      Statement* target;
      const char* sql;
    } statements[] = {
        {&begin_, "BEGIN"},
        {&commit_, "COMMIT"},
        {&insert_stream_, "INSERT INTO streams(stream_no, stream_id) VALUES (?, ?)"},
        {&insert_,
         "INSERT INTO events(position, stream_no, version, event_id, type, data, metadata, "
         "recorded_at_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"},
    };
    for (auto& s : statements) {
      auto stmt = db_.Prepare(s.sql);
      if (!stmt) return stmt.error();
      *s.target = std::move(stmt).value();
    }
    return OkStatus();
  }

  Status Add(std::span<const RecordedEvent> events) override {
    if (auto s = Usable(); !s) return s;
    for (const RecordedEvent& e : events) {
      // Events before a bad one may be written: the importer is done for either way, and the
      // temporary file goes with it.
      if (auto s = AddOne(e); !s) {
        failure_ = s.error();
        return s;
      }
    }
    return OkStatus();
  }

  Status Finish() override {
    if (auto s = Usable(); !s) return s;
    if (auto s = FinishFile(); !s) {
      failure_ = s.error();
      return s;
    }
    return OkStatus();
  }

 private:
  struct Stream {
    int64_t number;
    int64_t version;
  };

  Status Usable() const {
    if (finished_) {
      return Error::Make(ErrorCode::kInvalidArgument, "the import into " + path_ + " is finished");
    }
    if (failure_) {
      return Error::Make(ErrorCode::kUnavailable, "the import into " + path_ +
                                                      " failed earlier and takes nothing more (" +
                                                      failure_->message + "); start a new one");
    }
    return OkStatus();
  }

  Status AddOne(const RecordedEvent& e) {
    auto it = streams_.find(e.stream_id);
    const int64_t next_version = it == streams_.end() ? 1 : it->second.version + 1;
    if (auto s = CheckImportedEvent(e, last_position_, last_recorded_at_us_, next_version); !s) {
      return s;
    }
    if (!in_transaction_) {
      int rc = begin_.Step();
      begin_.Reset();
      if (rc != SQLITE_DONE) return begin_.LastError("cannot begin a transaction");
      in_transaction_ = true;
    }
    if (it == streams_.end()) {
      it = streams_.emplace(e.stream_id, Stream{next_stream_number_++, 0}).first;
      insert_stream_.Bind(1, it->second.number);
      insert_stream_.Bind(2, e.stream_id);
      int rc = insert_stream_.Step();
      insert_stream_.Reset();
      if (rc != SQLITE_DONE) return insert_stream_.LastError("cannot write stream " + e.stream_id);
    }
    char id[36];
    e.id.FormatTo(id);
    insert_.Bind(1, e.position);
    insert_.Bind(2, it->second.number);
    insert_.Bind(3, e.version);
    insert_.Bind(4, std::string_view(id, sizeof id));
    insert_.Bind(5, e.type);
    insert_.Bind(6, e.data);
    insert_.Bind(7, e.metadata);
    insert_.Bind(8, e.recorded_at_us);
    int rc = insert_.Step();
    insert_.Reset();
    if (rc != SQLITE_DONE) {
      return insert_.LastError("cannot write the event at position " + std::to_string(e.position));
    }
    it->second.version = e.version;
    last_position_ = e.position;
    last_recorded_at_us_ = e.recorded_at_us;
    if (++uncommitted_ >= kEventsPerCommit) return Commit();
    return OkStatus();
  }

  Status Commit() {
    if (!in_transaction_) return OkStatus();
    int rc = commit_.Step();
    commit_.Reset();
    if (rc != SQLITE_DONE) return commit_.LastError("cannot commit");
    in_transaction_ = false;
    uncommitted_ = 0;
    return OkStatus();
  }

  Status FinishFile() {
    if (auto s = Commit(); !s) return s;
    // The store's files are in WAL mode, which is kept in the file; the load went without a
    // journal for speed.
    {
      auto mode = db_.Prepare("PRAGMA journal_mode = WAL");
      if (!mode) return mode.error();
      if (mode->Step() != SQLITE_ROW) return mode->LastError("cannot switch " + temp_ + " to WAL");
      if (mode->Text(0) != "wal") {
        return Error::Make(ErrorCode::kIOError, "SQLite kept " + temp_ + " in journal mode " +
                                                    std::string(mode->Text(0)) + ", not WAL");
      }
      mode->Reset();
    }
    // Closing the last connection checkpoints and deletes the (empty) WAL: one file to move.
    Close();
    const std::string wal_file = temp_ + "-wal";
    if (Exists(fs_, wal_file)) {
      return Error::Make(ErrorCode::kIOError, "SQLite left " + wal_file + " behind on close");
    }
    // Loaded with synchronous=OFF: one fsync makes all of it durable before it gets its name.
    if (auto s = FsyncPath(fs_, temp_, O_RDWR, "file"); !s) return s;
    if (auto s = RenameNoReplace(fs_, temp_, path_); !s) return s;
    finished_ = true;  // in place; a failed fsync below leaves it there, its name maybe not durable
    // Readers in other processes go by the durable head (durable_head.h); one left by a store
    // that was at this path before would hold them back. Without one they read all the file
    // holds, which is durable.
    const std::string head = DurableHeadPath(path_);
    if (fs_.Unlink(head.c_str()) != 0 && errno != ENOENT) {
      return SystemError("cannot remove the stale durable head " + head);
    }
    const std::string dir = std::filesystem::path(path_).parent_path().string();
    return FsyncPath(fs_, dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY, "folder");
  }

  // Statements first: a connection with live statements would stay open.
  void Close() {
    begin_ = Statement();
    commit_ = Statement();
    insert_stream_ = Statement();
    insert_ = Statement();
    db_ = Database();
  }

  const std::string path_;
  const std::string temp_;
  Database db_;
  FileSystem& fs_;
  FileLock lock_;  // one import into a path at a time: they share the temporary file
  int64_t last_recorded_at_us_ = INT64_MIN;
  Statement begin_, commit_, insert_stream_, insert_;
  std::unordered_map<std::string, Stream> streams_;
  int64_t next_stream_number_ = 1;  // in order of first appearance, as the store numbers them
  int64_t last_position_ = 0;
  size_t uncommitted_ = 0;
  bool in_transaction_ = false;
  bool finished_ = false;
  std::optional<Error> failure_;
};

}  // namespace

Result<std::unique_ptr<SqliteImporter>> SqliteImporter::Create(const std::string& path,
                                                               FileSystem& fs) {
  if (path.empty()) return Error::Make(ErrorCode::kInvalidArgument, "the import needs a path");
  if (Exists(fs, path)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "something already exists at " + path +
                           "; an import makes a new store, so move it away or choose another path");
  }
  const std::string temp = path + ".importing";
  // Held until the importer is gone, so a second import into the same path cannot take over the
  // temporary file of the first.
  auto lock = FileLock::Acquire(fs, path + ".importing.lock");
  if (!lock.ok()) {
    if (lock.error().code == ErrorCode::kUnavailable) {
      return Error::Make(ErrorCode::kUnavailable, "another import into " + path + " is running");
    }
    return lock.error();
  }
  if (auto s = RemoveDatabaseFiles(fs, temp); !s) return s.error();
  auto db = Database::Open(temp, /*read_only=*/false);
  if (!db) {
    (void)RemoveDatabaseFiles(fs, temp);  // an empty file may have been created
    return db.error();
  }
  // From here on the importer removes the file if anything fails.
  auto importer =
      std::make_unique<Importer>(path, temp, std::move(db).value(), fs, std::move(lock).value());
  if (auto s = importer->Init(); !s) return s.error();
  return std::unique_ptr<SqliteImporter>(std::move(importer));
}

}  // namespace evs::store
