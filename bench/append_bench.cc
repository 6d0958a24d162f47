// `evs-bench append`: durable appends of one ~150-byte event, each writer thread on its own
// streams, on the evs SQLite store and on a naive SQLite event store (one transaction and one
// fsync per append), side by side in the same run.
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench.h"
#include "evs/event_store.h"
#include "evs/uuid.h"
#include "report.h"

namespace evs::bench {
namespace {

constexpr const char* kEventType = "ItemAdded";
constexpr size_t kEventDataBytes = 150;

// The data of every appended event: an ItemAdded-like JSON object of kEventDataBytes bytes.
std::string EventData150() {
  nlohmann::json data = {{"name", ""}, {"quantity", 2}, {"unit_price_cents", 1899}};
  const size_t frame = data.dump().size();
  std::string name = "Organic whole-bean coffee, light roast, fair trade, 1 kg bag, lot ";
  while (frame + name.size() < kEventDataBytes) name.push_back('x');
  name.resize(kEventDataBytes - frame);
  data["name"] = name;
  return data.dump();
}

// The streams of one writer thread, each with the version the writer last wrote to it. Only this
// writer appends to them, so exact expected versions never conflict.
struct WriterStreams {
  explicit WriterStreams(int count) {
    for (int i = 0; i < count; ++i) {
      ids.push_back("cart-" + Uuid::Random().ToString());
      versions.push_back(0);
    }
  }
  // The next stream in round-robin order.
  size_t Next() { return next++ % ids.size(); }

  std::vector<std::string> ids;
  std::vector<int64_t> versions;
  size_t next = 0;
};

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- evs -------------------------------------------------------------------------------------

Result<Row> RunEvs(const BenchOptions& options, int writers, const std::string& data) {
  const std::string path = options.dir + "/evs-append-" + std::to_string(writers) + ".sqlite";
  SqliteStoreOptions store_options;
  store_options.path = path;
  store_options.durable = true;
  Row row;
  {
    auto store = OpenSqliteEventStore(store_options);
    if (!store.ok()) return store.error();
    EventStore& s = **store;
    TimedRunOptions run{writers, options.warmup_seconds, options.seconds};
    row = RunTimed(run, [&](int) -> Worker {
      auto streams = std::make_shared<WriterStreams>(options.streams_per_writer);
      return [&s, &data, streams]() -> Status {
        const size_t k = streams->Next();
        std::vector<EventData> events(1);
        events[0].id = Uuid::Random();
        events[0].type = kEventType;
        events[0].data = data;
        auto result = s.Append(streams->ids[k], ExpectedVersion::Exact(streams->versions[k]),
                               std::move(events));
        if (!result.ok()) return result.error();
        streams->versions[k] = result->last_version;
        return OkStatus();
      };
    });
  }
  RemoveDatabase(path);
  return row;
}

// ---- the naive baseline ------------------------------------------------------------------------

// Error text for the last failure on `db`.
Error SqliteError(sqlite3* db, const std::string& what) {
  return Error::Make(ErrorCode::kIOError, what + ": " + sqlite3_errmsg(db) + " (code " +
                                              std::to_string(sqlite3_extended_errcode(db)) + ")");
}

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// One writer's connection to the naive store: the way most SQLite event stores append, one
// transaction per append: BEGIN IMMEDIATE; SELECT MAX(version); check; INSERT; COMMIT (fsync).
class NaiveWriter {
 public:
  ~NaiveWriter() {
    begin_.reset();
    max_version_.reset();
    insert_.reset();
    commit_.reset();
    rollback_.reset();
    if (db_ != nullptr) sqlite3_close(db_);
  }

  Status Open(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      return SqliteError(db_, "cannot open " + path);
    }
    // synchronous and busy_timeout are per connection; journal_mode=WAL is set in the file.
    if (sqlite3_exec(db_, "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;", nullptr,
                     nullptr, nullptr) != SQLITE_OK) {
      return SqliteError(db_, "cannot set pragmas");
    }
    struct {
      Stmt* target;
      const char* sql;
    } statements[] = {
        {&begin_, "BEGIN IMMEDIATE"},
        {&max_version_, "SELECT COALESCE(MAX(version), 0) FROM events WHERE stream_id = ?"},
        {&insert_,
         "INSERT INTO events(stream_id, version, event_id, type, data, metadata, recorded_at_us) "
         "VALUES (?, ?, ?, ?, ?, ?, ?)"},
        {&commit_, "COMMIT"},
        {&rollback_, "ROLLBACK"},
    };
    for (auto& s : statements) {
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v3(db_, s.sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) !=
          SQLITE_OK) {
        return SqliteError(db_, std::string("cannot prepare ") + s.sql);
      }
      s.target->reset(stmt);
    }
    return OkStatus();
  }

  Status Append(const std::string& stream, int64_t expected, const std::string& type,
                const std::string& data) {
    if (Step(begin_) != SQLITE_DONE) return Fail("BEGIN IMMEDIATE");
    sqlite3_bind_text(max_version_.get(), 1, stream.data(), static_cast<int>(stream.size()),
                      SQLITE_STATIC);
    if (Step(max_version_, /*reset=*/false) != SQLITE_ROW) return Fail("SELECT MAX(version)");
    const int64_t current = sqlite3_column_int64(max_version_.get(), 0);
    sqlite3_reset(max_version_.get());
    if (current != expected) {
      Step(rollback_);
      Error e = Error::Make(ErrorCode::kWrongExpectedVersion,
                            "stream '" + stream + "' is at version " + std::to_string(current));
      e.conflict = VersionConflict{std::to_string(expected), current};
      return e;
    }
    const std::string id = Uuid::Random().ToString();
    sqlite3_stmt* insert = insert_.get();
    sqlite3_bind_text(insert, 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
    sqlite3_bind_int64(insert, 2, current + 1);
    sqlite3_bind_text(insert, 3, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert, 4, type.data(), static_cast<int>(type.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert, 5, data.data(), static_cast<int>(data.size()), SQLITE_STATIC);
    sqlite3_bind_text(insert, 6, "{}", 2, SQLITE_STATIC);
    sqlite3_bind_int64(insert, 7, NowMicros());
    if (Step(insert_) != SQLITE_DONE) return Fail("INSERT");
    if (Step(commit_) != SQLITE_DONE) return Fail("COMMIT");
    return OkStatus();
  }

 private:
  static int Step(const Stmt& stmt, bool reset = true) {
    int rc = sqlite3_step(stmt.get());
    if (reset) sqlite3_reset(stmt.get());
    return rc;
  }

  // Reports the failed step and leaves no transaction open.
  Error Fail(const std::string& what) {
    Error e = SqliteError(db_, what);
    sqlite3_reset(max_version_.get());
    if (sqlite3_get_autocommit(db_) == 0) Step(rollback_);
    return e;
  }

  sqlite3* db_ = nullptr;
  Stmt begin_, max_version_, insert_, commit_, rollback_;
};

Status CreateNaiveStore(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  Status status = OkStatus();
  if (rc != SQLITE_OK) {
    status = SqliteError(db, "cannot create " + path);
  } else if (sqlite3_exec(db, R"sql(
PRAGMA journal_mode = WAL;
CREATE TABLE events (
  position       INTEGER PRIMARY KEY,
  stream_id      TEXT    NOT NULL,
  version        INTEGER NOT NULL,
  event_id       TEXT    NOT NULL,
  type           TEXT    NOT NULL,
  data           TEXT    NOT NULL,
  metadata       TEXT    NOT NULL,
  recorded_at_us INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_by_stream ON events(stream_id, version);
)sql",
                          nullptr, nullptr, nullptr) != SQLITE_OK) {
    status = SqliteError(db, "cannot create the schema in " + path);
  }
  sqlite3_close(db);
  return status;
}

Result<Row> RunNaive(const BenchOptions& options, int writers, const std::string& data) {
  const std::string path = options.dir + "/naive-append-" + std::to_string(writers) + ".sqlite";
  if (auto s = CreateNaiveStore(path); !s.ok()) return s.error();
  const std::string type = kEventType;
  TimedRunOptions run{writers, options.warmup_seconds, options.seconds};
  Row row = RunTimed(run, [&](int) -> Worker {
    auto writer = std::make_shared<NaiveWriter>();
    if (auto s = writer->Open(path); !s.ok()) {
      Error error = s.error();
      return [error]() -> Status { return error; };
    }
    auto streams = std::make_shared<WriterStreams>(options.streams_per_writer);
    return [writer, streams, &type, &data]() -> Status {
      const size_t k = streams->Next();
      Status s = writer->Append(streams->ids[k], streams->versions[k], type, data);
      if (s.ok()) ++streams->versions[k];
      return s;
    };
  });
  RemoveDatabase(path);
  return row;
}

void Describe(Row& row, int writers, const BenchOptions& options) {
  row.bench = "append";
  row.concurrency_name = "writers";
  row.concurrency = writers;
  row.extra["durable"] = true;
  row.extra["events_per_append"] = 1;
  row.extra["event_data_bytes"] = kEventDataBytes;
  row.extra["streams"] = writers * options.streams_per_writer;
}

}  // namespace

Status RunAppendBench(const BenchOptions& options, Reporter& reporter) {
  const std::string data = EventData150();
  for (int writers : options.writers) {
    std::fprintf(stderr, "append: sqlite-naive, %d writers...\n", writers);
    auto naive = RunNaive(options, writers, data);
    if (!naive.ok()) return naive.error();
    naive->system = "sqlite-naive";
    Describe(*naive, writers, options);
    SetRatio(*naive, *naive);

    std::fprintf(stderr, "append: evs, %d writers...\n", writers);
    auto evs = RunEvs(options, writers, data);
    if (!evs.ok()) return evs.error();
    evs->system = "evs";
    Describe(*evs, writers, options);
    SetRatio(*evs, *naive);

    reporter.Add(*naive);
    reporter.Add(*evs);
  }
  return OkStatus();
}

}  // namespace evs::bench
