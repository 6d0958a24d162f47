// A thin RAII layer over the SQLite C API: a connection and prepared statements, with errors
// turned into evs::Error values.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "evs/status.h"

namespace evs::store {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Binding indexes are 1-based, as in SQLite. Text and blobs are copied only when `transient`.
  void Bind(int index, int64_t value) { sqlite3_bind_int64(stmt_, index, value); }
  void BindDouble(int index, double value) { sqlite3_bind_double(stmt_, index, value); }
  void BindNull(int index) { sqlite3_bind_null(stmt_, index); }
  // The text is not copied: it must outlive the statement's next Step().
  void Bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  }
  void Bind(int index, const std::string& text) { Bind(index, std::string_view(text)); }
  // A temporary would be gone before Step(): bind a variable instead.
  void Bind(int index, std::string&& text) = delete;
  // Returns SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  // Resets for re-use and clears bindings.
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  // The largest parameter index of the statement (?3 counts three).
  int ParameterCount() const { return sqlite3_bind_parameter_count(stmt_); }
  int ColumnCount() const { return sqlite3_column_count(stmt_); }
  // SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL.
  int ColumnType(int column) const { return sqlite3_column_type(stmt_, column); }
  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double Double(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string_view Text(int column) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return std::string_view(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
  }
  bool IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

  // An error describing the last failure of this statement's connection.
  Error LastError(std::string_view what) const;

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  Database() = default;
  Database(Database&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // `vfs` names the sqlite3 VFS to open the file through (tests register one that injects
  // faults); empty for SQLite's default.
  static Result<Database> Open(const std::string& path, bool read_only,
                               const std::string& vfs = {});

  Status Exec(std::string_view sql);
  Result<Statement> Prepare(std::string_view sql);
  Error LastError(std::string_view what) const;
  sqlite3* raw() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

// Switches a file that several processes share (checkpoints, snapshots) to WAL with
// synchronous=NORMAL and runs `schema` (CREATE ... IF NOT EXISTS): opening at once can meet a
// lock that SQLite's busy handler does not wait for, so it tries again for up to two seconds.
Status PrepareSharedFile(Database& db, std::string_view schema);

// Maps a SQLite result code to the evs error code that tells a caller what to do about it.
ErrorCode ErrorCodeForSqlite(int rc);

// True for an extended result code that says an fsync failed (of a file or of its folder).
inline bool IsSyncFailure(int rc) {
  return rc == SQLITE_IOERR_FSYNC || rc == SQLITE_IOERR_DIR_FSYNC;
}

}  // namespace evs::store
