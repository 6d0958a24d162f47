// The ReadModel (evs/read_model.h) on a PostgreSQL connection: portable SQL's ? and ?N become
// $N (pg_placeholders.h), and each statement is prepared once by its SQL text, so a
// projection's Apply costs one round trip, not a parse and plan of its SQL.
//
// Values travel as text and PostgreSQL infers each parameter's type from where the statement
// uses it (a column it is compared with or stored in; text where nothing says). Result columns
// come back by their type: integers (and booleans, as 0 and 1) as int64, float4/float8 as double,
// numeric as int64 when it is whole and fits, else double; bytea as its bytes; the rest as text.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "evs/read_model.h"
#include "postgres/pg_connection.h"

namespace evs::pg {

class PgReadModel final : public ReadModel {
 public:
  // Statements kept at most; past it the cache starts over (as SqliteReadModel's).
  static constexpr size_t kMaxStatements = 256;

  // Connects to `url`. With `reconnect` (for statements that each run on their own, never in a
  // transaction: a new session would run the rest of one outside it), a statement that finds
  // the connection lost, or loses it, runs once more on a new one.
  static Result<std::unique_ptr<PgReadModel>> Open(const std::string& url, bool reconnect = false);

  // Connects again when the connection was lost (the kept statements went with it).
  Status Reconnect();
  // The connection, for the runner's transactions.
  Connection& connection() { return *connection_; }
  // The generation that the next calls write.
  void SetSuffix(std::string suffix) { suffix_ = std::move(suffix); }
  // Deallocates the kept statements, e.g. of a generation whose tables were dropped.
  void ClearStatements();
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
  PgReadModel(std::string url, std::unique_ptr<Connection> connection, bool reconnect)
      : url_(std::move(url)), connection_(std::move(connection)), reconnect_(reconnect) {}
  Result<ResultPtr> RunOnce(std::string_view sql, std::span<const SqlValue> params);
  // Runs `sql` (portable) with `params`; its result, or the error as a read model reports it.
  Result<ResultPtr> Run(std::string_view sql, std::span<const SqlValue> params);
  // The name of the kept statement for `sql` and how many parameters it takes.
  struct Kept {
    std::string name;
    int parameters = 0;
  };
  Result<const Kept*> Prepared(std::string_view sql);
  Error Failed(const PGresult* result, std::string_view what, std::string_view sql) const;

  struct SqlHash {
    using is_transparent = void;
    size_t operator()(std::string_view sql) const { return std::hash<std::string_view>{}(sql); }
  };

  const std::string url_;
  std::unique_ptr<Connection> connection_;
  const bool reconnect_;
  std::string suffix_;
  std::unordered_map<std::string, Kept, SqlHash, std::equal_to<>> statements_;
  int64_t prepared_ = 0;
  int64_t changes_ = 0;
};

}  // namespace evs::pg
