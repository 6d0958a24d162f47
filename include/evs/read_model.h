// A read model as a projection sees it: SQL statements with parameters, run inside the
// transaction of the batch being applied. evs ships it on SQLite (a ProjectionRunner or
// StreamProjectionHandler opens it, projection.h) and on PostgreSQL (postgres_projection.h: the
// same ? and ?N parameters; write SQL both take); a projection names no database library, only
// SQL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "evs/status.h"

namespace evs {

// A parameter or a column value: NULL, INTEGER, REAL or TEXT. A BLOB column reads as its bytes.
using SqlValue = std::variant<std::nullptr_t, int64_t, double, std::string>;
// One row of a query's result, its columns in the order of the SELECT.
using SqlRow = std::vector<SqlValue>;

// The tables of one generation of a read model, written by one thread at a time. Every call runs
// inside a transaction that the caller (the runner) owns: a failed statement fails the whole
// batch, which is rolled back with the checkpoint, so the projection needs no undo of its own.
// Do not BEGIN, COMMIT or ROLLBACK here.
//
// Statements are kept prepared by their SQL text and reused by later calls with the same text,
// also in later batches: put values in parameters (?, ?N), not in the text, or every call pays
// for a new statement.
class ReadModel {
 public:
  virtual ~ReadModel() = default;

  // The suffix of the generation being written ("_g1"): a projection's tables are named
  // <table><suffix> ("CREATE TABLE cart_summaries" + Suffix() + " ..."); readers query the views
  // of the plain names (projection.h).
  virtual const std::string& Suffix() const = 0;

  // Runs one statement (no ';'-separated list) with `params` bound in order (?1 = params[0]);
  // rows it returns are ignored. The count of params must match the statement's parameters.
  // Errors: kInvalidArgument for SQL the database refuses (syntax, a missing table, a broken
  // constraint, wrong parameters), with its message; kIOError or kUnavailable when the disk or a
  // lock fails.
  virtual Status Execute(std::string_view sql, std::span<const SqlValue> params) = 0;
  // As above, with the parameters listed: Execute("... WHERE id = ?", {id}).
  Status Execute(std::string_view sql, std::initializer_list<SqlValue> params = {}) {
    return Execute(sql, std::span<const SqlValue>(params.begin(), params.size()));
  }

  // Runs one statement as Execute does and returns every row it yields.
  virtual Result<std::vector<SqlRow>> Query(std::string_view sql,
                                            std::span<const SqlValue> params) = 0;
  // As above, with the parameters listed.
  Result<std::vector<SqlRow>> Query(std::string_view sql,
                                    std::initializer_list<SqlValue> params = {}) {
    return Query(sql, std::span<const SqlValue>(params.begin(), params.size()));
  }

  // Rows inserted, updated or deleted by the last successful Execute (0 before any).
  virtual int64_t Changes() const = 0;
};

}  // namespace evs
