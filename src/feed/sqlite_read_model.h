// The ReadModel (evs/read_model.h) on a SQLite connection, with its statements kept prepared by
// SQL text: a projection's Apply costs binds and a step, not a parse of its SQL.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "evs/read_model.h"
#include "store/sqlite.h"

namespace evs::feed {

class SqliteReadModel final : public ReadModel {
 public:
  // Statements kept at most; past it the cache starts over, so that a projection that writes
  // values into its SQL text does not grow it without end.
  static constexpr size_t kMaxStatements = 256;

  explicit SqliteReadModel(store::Database db) : db_(std::move(db)) {}

  // The connection, for the runner's own statements (transactions, checkpoints, views).
  store::Database& db() { return db_; }
  // The generation that the next calls write.
  void SetSuffix(std::string suffix) { suffix_ = std::move(suffix); }
  // Finalizes the kept statements, e.g. of a generation whose tables were dropped.
  void ClearStatements() { statements_.clear(); }
  // Statements prepared since the connection opened: tests see the cache at work.
  int64_t prepared() const { return prepared_; }

  using ReadModel::Execute;
  using ReadModel::Query;
  const std::string& Suffix() const override { return suffix_; }
  Status Execute(std::string_view sql, std::span<const SqlValue> params) override;
  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    std::span<const SqlValue> params) override;
  int64_t Changes() const override { return changes_; }

 private:
  // Steps `sql` with `params` to its end, handing each row to `row` (may be empty); the
  // statement is reset whatever happens, so it never holds a table (a DROP would fail).
  Status Run(std::string_view sql, std::span<const SqlValue> params,
             const std::function<void(const store::Statement&)>& row);
  // The kept statement for `sql`, prepared on first use.
  Result<store::Statement*> Prepared(std::string_view sql);
  Error Failed(int rc, std::string_view what, std::string_view sql) const;

  struct SqlHash {
    using is_transparent = void;  // finds a std::string by a string_view, without a copy
    size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };

  store::Database db_;
  std::string suffix_;
  std::unordered_map<std::string, store::Statement, SqlHash, std::equal_to<>> statements_;
  int64_t prepared_ = 0;
  int64_t changes_ = 0;
};

}  // namespace evs::feed
