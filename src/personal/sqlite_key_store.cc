// The embedded key store (evs/personal_data.h): one SQLite file, keys as blobs, tombstones for
// forgotten subjects.
//
// A destroyed key must be left nowhere in the file's folder. secure_delete zeroes the cells and
// pages SQLite frees, and the key's row is deleted (not updated in place) before the tombstone
// goes in; the WAL still holds the frames that wrote the key, so every Forget ends with a
// TRUNCATE checkpoint, which copies the zeroed pages home and empties the WAL.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "evs/personal_data.h"
#include "evs/uuid.h"
#include "personal/aead.h"
#include "store/sqlite.h"

namespace evs {
namespace {

using store::Database;

constexpr std::string_view kSchema =
    "CREATE TABLE IF NOT EXISTS key_store (id TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS subject_keys (subject TEXT PRIMARY KEY, key BLOB, "
    "created_at_us INTEGER NOT NULL, forgotten_at_us INTEGER);";

using Stmt = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Creates the file readable by its owner only (SQLite gives the WAL the same mode) and makes its
// name durable in the folder.
Status CreateOwnerOnly(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Error::Make(ErrorCode::kIOError,
                       "cannot create the key store " + path + ": " + std::strerror(errno));
  }
  ::close(fd);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    const int rc = ::fsync(dir_fd);
    ::close(dir_fd);
    if (rc == 0) return OkStatus();
  }
  return Error::Make(ErrorCode::kIOError, "cannot sync the folder of the key store " + path);
}

class SqliteKeyStore final : public KeyStore {
 public:
  SqliteKeyStore(std::string path, Database db, std::string id)
      : path_(std::move(path)), db_(std::move(db)), id_(std::move(id)) {}

  const std::string& id() const override { return id_; }
  std::string name() const override { return path_; }

  Result<std::string> KeyFor(const std::string& subject) override {
    if (Status s = ValidateSubject(subject); !s.ok()) return s.error();
    std::lock_guard lock(mu_);
    auto found = FindLocked(subject);
    if (!found.ok()) return found.error();
    if (found->state == SubjectKey::State::kActive) return std::move(found->key);
    if (found->state == SubjectKey::State::kForgotten) return Forgotten(subject);
    // Another process may make the same subject's key at once: the first insert wins, and the
    // key is read back. synchronous=FULL makes the commit durable before this returns.
    auto key = personal::RandomBytes(personal::kKeyBytes);
    if (!key.ok()) return key.error();
    auto insert = Prepare(
        "INSERT OR IGNORE INTO subject_keys (subject, key, created_at_us) VALUES (?1, ?2, ?3)");
    if (!insert.ok()) return insert.error();
    sqlite3_stmt* stmt = insert->get();
    sqlite3_bind_text(stmt, 1, subject.data(), static_cast<int>(subject.size()), SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 2, key->data(), static_cast<int>(key->size()), SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, NowMicros());
    if (sqlite3_step(stmt) != SQLITE_DONE) return db_.LastError("cannot store a subject's key");
    found = FindLocked(subject);
    if (!found.ok()) return found.error();
    if (found->state == SubjectKey::State::kForgotten) return Forgotten(subject);
    if (found->state != SubjectKey::State::kActive) {
      return Error::Make(ErrorCode::kIOError, "the key of subject '" + subject +
                                                  "' was stored and is not there: " + path_);
    }
    return std::move(found->key);
  }

  Result<SubjectKey> Find(const std::string& subject) override {
    std::lock_guard lock(mu_);
    return FindLocked(subject);
  }

  Result<bool> Forget(const std::string& subject) override {
    if (Status s = ValidateSubject(subject); !s.ok()) return s.error();
    std::lock_guard lock(mu_);
    if (Status s = db_.Exec("BEGIN IMMEDIATE"); !s.ok()) return s.error();
    auto forgotten = ForgetInTransaction(subject);
    if (!forgotten.ok()) {
      (void)db_.Exec("ROLLBACK");
      return forgotten.error();
    }
    if (Status s = db_.Exec("COMMIT"); !s.ok()) {
      (void)db_.Exec("ROLLBACK");
      return s.error();
    }
    // Even a subject forgotten before: an earlier checkpoint may not have finished.
    if (Status s = TruncateWal(); !s.ok()) return s.error();
    return forgotten;
  }

 private:
  static Error Forgotten(const std::string& subject) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "subject '" + subject +
                           "' was forgotten; no personal data can be stored under that id again");
  }

  Result<Stmt> Prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_.raw(), sql, -1, &stmt, nullptr) != SQLITE_OK) {
      return db_.LastError(std::string("cannot prepare: ") + sql);
    }
    return Stmt(stmt, &sqlite3_finalize);
  }

  Result<SubjectKey> FindLocked(const std::string& subject) {
    auto select = Prepare("SELECT key FROM subject_keys WHERE subject = ?1");
    if (!select.ok()) return select.error();
    sqlite3_stmt* stmt = select->get();
    sqlite3_bind_text(stmt, 1, subject.data(), static_cast<int>(subject.size()), SQLITE_STATIC);
    SubjectKey found;
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE) return found;
    if (rc != SQLITE_ROW) return db_.LastError("cannot read the key of subject '" + subject + "'");
    if (sqlite3_column_type(stmt, 0) == SQLITE_NULL) {
      found.state = SubjectKey::State::kForgotten;
      return found;
    }
    const auto* bytes = static_cast<const char*>(sqlite3_column_blob(stmt, 0));
    found.key.assign(bytes ? bytes : "", static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    if (found.key.size() != personal::kKeyBytes) {
      return Error::Make(ErrorCode::kCorruption,
                         "the key of subject '" + subject + "' in " + path_ + " is not 32 bytes");
    }
    found.state = SubjectKey::State::kActive;
    return found;
  }

  Result<bool> ForgetInTransaction(const std::string& subject) {
    auto found = FindLocked(subject);
    if (!found.ok()) return found.error();
    if (found->state == SubjectKey::State::kUnknown) {
      return Error::Make(ErrorCode::kNotFound,
                         "subject '" + subject + "' is unknown: " + path_ + " has no key for it");
    }
    if (found->state == SubjectKey::State::kForgotten) return false;
    // Deleted, then a tombstone inserted: a delete frees the cell, which secure_delete zeroes.
    auto remove = Prepare("DELETE FROM subject_keys WHERE subject = ?1");
    auto tombstone = Prepare(
        "INSERT INTO subject_keys (subject, key, created_at_us, forgotten_at_us) "
        "VALUES (?1, NULL, ?2, ?2)");
    if (!remove.ok()) return remove.error();
    if (!tombstone.ok()) return tombstone.error();
    sqlite3_bind_text(remove->get(), 1, subject.data(), static_cast<int>(subject.size()),
                      SQLITE_STATIC);
    sqlite3_bind_text(tombstone->get(), 1, subject.data(), static_cast<int>(subject.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(tombstone->get(), 2, NowMicros());
    if (sqlite3_step(remove->get()) != SQLITE_DONE ||
        sqlite3_step(tombstone->get()) != SQLITE_DONE) {
      return db_.LastError("cannot forget subject '" + subject + "'");
    }
    return true;
  }

  // Copies every page home and empties the WAL; waits (up to about 5 s) for readers of other
  // connections, which keep the WAL from being reset.
  Status TruncateWal() {
    for (int attempt = 0;; ++attempt) {
      int wal_frames = 0;
      int copied = 0;
      const int rc = sqlite3_wal_checkpoint_v2(db_.raw(), nullptr, SQLITE_CHECKPOINT_TRUNCATE,
                                               &wal_frames, &copied);
      if (rc == SQLITE_OK) return OkStatus();
      if ((rc & 0xff) != SQLITE_BUSY || attempt == 100) {
        return Error::Make(ErrorCode::kUnavailable,
                           "the key is destroyed, but the WAL of " + path_ +
                               " could not be emptied (" + sqlite3_errmsg(db_.raw()) +
                               "): run evs forget again once the other users of the file are "
                               "idle, so that no copy of the key remains in it");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  const std::string path_;
  std::mutex mu_;  // the connection is used by one thread at a time
  Database db_;
  const std::string id_;
};

// The key store's id, made when the file is new.
Result<std::string> ReadOrMakeId(Database& db) {
  if (Status s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) return s.error();
  auto select = db.Prepare("SELECT id FROM key_store LIMIT 1");
  if (!select.ok()) {
    (void)db.Exec("ROLLBACK");
    return select.error();
  }
  std::string id;
  if (select->Step() == SQLITE_ROW) {
    id = std::string(select->Text(0));
  } else {
    id = Uuid::Random().ToString();
    auto insert = db.Prepare("INSERT INTO key_store (id) VALUES (?1)");
    if (!insert.ok() || (insert->Bind(1, id), insert->Step()) != SQLITE_DONE) {
      (void)db.Exec("ROLLBACK");
      return db.LastError("cannot record the key store's id");
    }
  }
  select = store::Statement();  // done before the commit
  if (Status s = db.Exec("COMMIT"); !s.ok()) {
    (void)db.Exec("ROLLBACK");
    return s.error();
  }
  return id;
}

}  // namespace

std::string KeyStorePathFor(const std::string& store_path) { return store_path + "-keys"; }

Result<std::unique_ptr<KeyStore>> OpenSqliteKeyStore(const SqliteKeyStoreOptions& options) {
  if (options.path.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "the key store's path is empty");
  }
  std::error_code ec;
  if (!std::filesystem::exists(options.path, ec)) {
    if (!options.create_if_missing) {
      return Error::Make(ErrorCode::kNotFound, "there is no key store at " + options.path);
    }
    if (Status s = CreateOwnerOnly(options.path); !s.ok()) return s.error();
  }
  auto db = Database::Open(options.path, /*read_only=*/false);
  if (!db.ok()) return db.error();
  if (Status s = store::PrepareSharedFile(*db, kSchema); !s.ok()) return s.error();
  if (Status s = db->Exec("PRAGMA secure_delete = ON; PRAGMA synchronous = FULL;"); !s.ok()) {
    return s.error();
  }
  auto id = ReadOrMakeId(*db);
  if (!id.ok()) return id.error();
  return std::unique_ptr<KeyStore>(
      std::make_unique<SqliteKeyStore>(options.path, std::move(db).value(), std::move(id).value()));
}

}  // namespace evs
