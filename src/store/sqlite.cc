#include "store/sqlite.h"

#include <chrono>
#include <thread>

namespace evs::store {

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    other.stmt_ = nullptr;
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Status PrepareSharedFile(Database& db, std::string_view schema) {
  Status ready = OkStatus();
  for (int attempt = 0; attempt < 200; ++attempt) {
    ready = db.Exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    if (ready.ok()) ready = db.Exec(schema);
    if (ready.ok() || ready.error().code != ErrorCode::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ready;
}

ErrorCode ErrorCodeForSqlite(int rc) {
  switch (rc & 0xff) {
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorCode::kCorruption;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::kUnavailable;
    case SQLITE_TOOBIG:
      return ErrorCode::kLimitExceeded;
    default:
      return ErrorCode::kIOError;
  }
}

namespace {

Error SqliteError(sqlite3* db, std::string_view what) {
  int rc = db ? sqlite3_extended_errcode(db) : SQLITE_CANTOPEN;
  std::string message = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "cannot open") +
                        " (sqlite code " + std::to_string(rc) + ")";
  return Error::Make(ErrorCodeForSqlite(rc), std::move(message));
}

}  // namespace

Error Statement::LastError(std::string_view what) const { return SqliteError(db_, what); }

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = other.db_;
    other.db_ = nullptr;
  }
  return *this;
}

Database::~Database() { sqlite3_close_v2(db_); }

Result<Database> Database::Open(const std::string& path, bool read_only, const std::string& vfs) {
  Database db;
  int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  flags |= SQLITE_OPEN_NOMUTEX;  // each connection is used by one thread at a time
  int rc = sqlite3_open_v2(path.c_str(), &db.db_, flags, vfs.empty() ? nullptr : vfs.c_str());
  if (rc != SQLITE_OK) return SqliteError(db.db_, "cannot open " + path);
  sqlite3_extended_result_codes(db.db_, 1);
  sqlite3_busy_timeout(db.db_, 5000);
  return db;
}

Status Database::Exec(std::string_view sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);
  if (rc != SQLITE_OK) return SqliteError(db_, std::string("sql failed: ") + std::string(sql));
  return OkStatus();
}

Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db_, "cannot prepare: " + std::string(sql));
  return Statement(db_, stmt);
}

Error Database::LastError(std::string_view what) const { return SqliteError(db_, what); }

}  // namespace evs::store
