#include "feed/sqlite_read_model.h"

namespace evs::feed {

Status SqliteReadModel::Execute(std::string_view sql, std::span<const SqlValue> params) {
  const int64_t before = sqlite3_total_changes64(db_.raw());
  if (auto s = Run(sql, params, {}); !s) return s;
  changes_ = sqlite3_total_changes64(db_.raw()) - before;
  return OkStatus();
}

Result<std::vector<SqlRow>> SqliteReadModel::Query(std::string_view sql,
                                                   std::span<const SqlValue> params) {
  std::vector<SqlRow> rows;
  auto read = [&rows](const store::Statement& stmt) {
    SqlRow& row = rows.emplace_back(static_cast<size_t>(stmt.ColumnCount()));
    for (int i = 0; i < stmt.ColumnCount(); ++i) {
      switch (stmt.ColumnType(i)) {
        case SQLITE_NULL:
          break;  // the row's values start as nullptr
        case SQLITE_INTEGER:
          row[i] = stmt.Int(i);
          break;
        case SQLITE_FLOAT:
          row[i] = stmt.Double(i);
          break;
        default:  // TEXT, and a BLOB as its bytes
          row[i] = std::string(stmt.Text(i));
      }
    }
  };
  if (auto s = Run(sql, params, read); !s) return s.error();
  return rows;
}

Status SqliteReadModel::Run(std::string_view sql, std::span<const SqlValue> params,
                            const std::function<void(const store::Statement&)>& row) {
  auto prepared = Prepared(sql);
  if (!prepared.ok()) return prepared.error();
  store::Statement& stmt = **prepared;
  if (stmt.ParameterCount() != static_cast<int>(params.size())) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "read model: the statement takes " + std::to_string(stmt.ParameterCount()) +
                           " parameters and " + std::to_string(params.size()) +
                           " were given: " + std::string(sql));
  }
  for (int i = 0; i < static_cast<int>(params.size()); ++i) {
    const SqlValue& value = params[i];
    if (const auto* n = std::get_if<int64_t>(&value)) {
      stmt.Bind(i + 1, *n);
    } else if (const auto* text = std::get_if<std::string>(&value)) {
      stmt.Bind(i + 1, *text);  // not copied: `params` outlives the steps below
    } else if (const auto* real = std::get_if<double>(&value)) {
      stmt.BindDouble(i + 1, *real);
    } else {
      stmt.BindNull(i + 1);
    }
  }
  int rc;
  while ((rc = stmt.Step()) == SQLITE_ROW) {
    if (row) row(stmt);
  }
  Status done = OkStatus();
  if (rc != SQLITE_DONE) done = Failed(rc, "read model: statement failed", sql);
  stmt.Reset();
  return done;
}

Result<store::Statement*> SqliteReadModel::Prepared(std::string_view sql) {
  if (auto it = statements_.find(sql); it != statements_.end()) return &it->second;
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db_.raw(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, &tail);
  if (rc != SQLITE_OK) return Failed(rc, "read model: cannot prepare", sql);
  store::Statement stmt(db_.raw(), raw);
  if (raw == nullptr) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "read model: no statement in: " + std::string(sql));
  }
  // What follows the first statement must be blanks or comments: a second statement would
  // silently not run.
  sqlite3_stmt* next = nullptr;
  const std::string_view rest(tail, static_cast<size_t>(sql.data() + sql.size() - tail));
  rc = sqlite3_prepare_v2(db_.raw(), rest.data(), static_cast<int>(rest.size()), &next, nullptr);
  store::Statement next_stmt(db_.raw(), next);
  if (rc != SQLITE_OK || next != nullptr) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "read model: one statement per call, not several: " + std::string(sql));
  }
  if (statements_.size() >= kMaxStatements) statements_.clear();
  ++prepared_;
  return &statements_.emplace(std::string(sql), std::move(stmt)).first->second;
}

Error SqliteReadModel::Failed(int rc, std::string_view what, std::string_view sql) const {
  Error error = db_.LastError(std::string(what) + ": " + std::string(sql));
  switch (rc & 0xff) {
    case SQLITE_ERROR:  // syntax, a missing table or column
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      error.code = ErrorCode::kInvalidArgument;
      break;
    default:
      break;  // the disk, a lock: as the store maps them
  }
  return error;
}

}  // namespace evs::feed
