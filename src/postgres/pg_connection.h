// One libpq connection, with parameters and results in binary form, and errors as values.
//
// Statements go through PQexecParams with every parameter and result in the binary format
// (int8 as 8 big-endian bytes, uuid as 16 bytes, text and bytea as their bytes), so nothing is
// escaped or parsed as text on the way. Arrays are sent in the text format (see Params::TextArray).
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "evs/status.h"
#include "evs/uuid.h"

namespace evs::pg {

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

// The parameters of one statement, $1 first.
class Params {
 public:
  Params& Int8(int64_t value);
  Params& Text(std::string_view value);  // text or bytea: the bytes as they are
  Params& Id(const Uuid& value);         // uuid
  // A text[] literal of `values` ({"a","b"}), each quoted and escaped; for `= ANY($n::text[])`.
  Params& TextArray(const std::vector<std::string>& values);
  // A uuid[] literal.
  Params& IdArray(const std::vector<Uuid>& values);
  Params& Int8Array(const std::vector<int64_t>& values);
  // A bytea[] literal: each element in hex ("\\x6869").
  Params& ByteaArray(const std::vector<std::string_view>& values);
  // A text[] literal of views.
  Params& TextArray(const std::vector<std::string_view>& values);

  size_t size() const { return values_.size(); }

 private:
  friend class Connection;
  struct Value {
    std::string bytes;
    int format;  // 0 text, 1 binary
  };
  std::vector<Value> values_;
};

// Column readers for a binary-format result.
int64_t GetInt8(const PGresult* result, int row, int column);
std::string GetText(const PGresult* result, int row, int column);  // text or bytea
Uuid GetId(const PGresult* result, int row, int column);
bool IsNull(const PGresult* result, int row, int column);

// SQLSTATEs the store branches on.
inline constexpr std::string_view kUniqueViolation = "23505";
inline constexpr std::string_view kDeadlock = "40P01";
inline constexpr std::string_view kSerializationFailure = "40001";
inline constexpr std::string_view kUndefinedTable = "42P01";

class Connection {
 public:
  // Connects (client_encoding UTF8, application_name evs, plan_cache_mode force_custom_plan: a
  // prepared statement is planned for its parameters at each run, never with a generic plan
  // that PostgreSQL may have fixed while the tables were empty, e.g. a sequential scan for
  // `event_id = ANY($1)`; the url's own `options` replace this). kInvalidArgument for a url libpq
  // cannot parse, kUnavailable when the server cannot be reached or refuses the login.
  static Result<std::unique_ptr<Connection>> Open(const std::string& url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement. On failure: kUnavailable when the connection is lost (Broken() is then
  // true), else kIOError naming the server's message; sqlstate() says which error it was.
  Result<ResultPtr> Exec(std::string_view sql, const Params& params = Params());
  // Runs statements without parameters (several, separated by ';').
  Status ExecScript(std::string_view sql);

  // One statement of a Pipeline().
  struct Step {
    std::string sql;
    Params params;
    // Non-empty: run as this named prepared statement (prepared on first use on this
    // connection, so that PostgreSQL parses and plans `sql` once, not per run). `sql` must
    // then be the same text at every use of the name.
    std::string prepared;
    // Ask the server to send the results so far once this step has run (a flush request), so
    // that `done` sees them before the steps after it have run.
    bool flush = false;
  };
  // Sends every step at once (libpq's pipeline mode: one round trip for all of them) and
  // returns their results in order. The first step that fails fails the call, as Exec() would,
  // and the steps after it are not run (inside a transaction block, which is then aborted).
  // `done`, when set, is called with each step's index as soon as its result is in and it
  // succeeded (before the later steps' results are awaited).
  Result<std::vector<ResultPtr>> Pipeline(const std::vector<Step>& steps,
                                          const std::function<void(size_t)>& done = nullptr);

  bool Broken() const { return PQstatus(conn_) != CONNECTION_OK; }
  // The SQLSTATE of the last failed statement ("" when it had none, e.g. a lost connection).
  const std::string& sqlstate() const { return sqlstate_; }
  PGconn* raw() { return conn_; }

 private:
  explicit Connection(PGconn* conn) : conn_(conn) {}
  Error Failure(const PGresult* result, std::string_view sql);
  void Reset();

  PGconn* conn_;
  std::string sqlstate_;
  std::unordered_set<std::string> prepared_;  // names prepared on this session
};

// A connection for one statement at a time from any thread, which reopens itself: a statement
// that finds it lost runs once more on a new connection (a statement that fails otherwise, or
// twice, returns its error). For the stores that run single statements (checkpoints, keys).
class ReopeningConnection {
 public:
  ReopeningConnection(std::string url, std::unique_ptr<Connection> first)
      : url_(std::move(url)), connection_(std::move(first)) {}
  Result<ResultPtr> Exec(std::string_view sql, const Params& params = Params());

 private:
  const std::string url_;
  std::mutex mu_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace evs::pg
