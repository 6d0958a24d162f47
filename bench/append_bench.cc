// `evs-bench append`: durable appends of one ~150-byte event, each writer thread on its own
// streams, on evs and on a naive SQLite event store (one transaction and one fsync per append),
// beside the two limits of the disk (append_limits.h), side by side in the same run; and
// `append-async` rows: one thread keeping N appends in flight through AppendAsync, beside the
// disk's limit for groups of N.
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "append_limits.h"
#include "bench.h"
#include "engines.h"
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

// A fresh folder for one row's store, removed with everything in it afterwards.
struct RowFolder {
  explicit RowFolder(std::string p) : path(std::move(p)) {
    std::error_code ignored;
    std::filesystem::create_directories(path, ignored);
  }
  ~RowFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string path;
};

// The next append of a writer: one event on the writer's next stream, at its exact version.
std::vector<EventData> OneEvent(const std::string& data) {
  std::vector<EventData> events(1);
  events[0].id = Uuid::Random();
  events[0].type = kEventType;
  events[0].data = data;
  return events;
}

Result<Row> RunEvs(const BenchOptions& options, const BenchEngine& engine, int writers,
                   const std::string& data) {
  RowFolder folder(options.dir + "/" + engine.system + "-append-" + std::to_string(writers));
  auto store = engine.open(folder.path, /*durable=*/true);
  if (!store.ok()) return store.error();
  EventStore& s = **store;
  TimedRunOptions run{writers, options.warmup_seconds, options.seconds};
  Row row = RunTimed(run, [&](int) -> Worker {
    auto streams = std::make_shared<WriterStreams>(options.streams_per_writer);
    return [&s, &data, streams]() -> Status {
      const size_t k = streams->Next();
      auto result =
          s.Append(streams->ids[k], ExpectedVersion::Exact(streams->versions[k]), OneEvent(data));
      if (!result.ok()) return result.error();
      streams->versions[k] = result->last_version;
      return OkStatus();
    };
  });
  row.system = engine.system;
  return row;
}

// One thread keeps `in_flight` appends in flight: it submits them, and each completion submits
// the next one from the callback (event_store.h allows AppendAsync there), as an event loop
// would. Each of the `in_flight` chains has its own streams, so exact versions never conflict.
class AsyncAppendRun {
 public:
  AsyncAppendRun(EventStore& store, const std::string& data, int in_flight, int streams_per_chain)
      : store_(store), data_(data) {
    for (int i = 0; i < in_flight; ++i) chains_.emplace_back(streams_per_chain);
  }

  Row Run(double warmup_seconds, double seconds) {
    active_ = static_cast<int>(chains_.size());
    for (size_t c = 0; c < chains_.size(); ++c) Submit(c);
    std::this_thread::sleep_for(std::chrono::duration<double>(warmup_seconds));
    const auto measure_start = std::chrono::steady_clock::now();
    phase_.store(kMeasure, std::memory_order_release);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const auto measure_end = std::chrono::steady_clock::now();
    phase_.store(kStop, std::memory_order_release);
    std::unique_lock lock(mu_);
    // Bounded: every chain stops at its next completion, and each append completes.
    idle_.wait(lock, [&] { return active_ == 0; });

    Row row;
    row.ops = in_interval_;
    row.errors = errors_;
    if (first_error_) {
      row.note = std::string("first error: ") + ErrorCodeName(first_error_->code) + ": " +
                 first_error_->message;
    }
    row.seconds = std::chrono::duration<double>(measure_end - measure_start).count();
    row.ops_per_s = row.seconds > 0 ? static_cast<double>(row.ops) / row.seconds : 0;
    row.latency = ComputeLatencyStats(nanos_);
    row.extra = {{"latency_samples", row.latency.count}};
    return row;
  }

 private:
  enum Phase : int { kWarmup, kMeasure, kStop };

  void Submit(size_t chain) {
    WriterStreams& streams = chains_[chain];
    const size_t k = streams.Next();
    const int started_in = phase_.load(std::memory_order_acquire);
    const auto start = std::chrono::steady_clock::now();
    store_.AppendAsync(streams.ids[k], ExpectedVersion::Exact(streams.versions[k]), OneEvent(data_),
                       [this, chain, k, start, started_in](Result<AppendResult> result) {
                         Completed(chain, k, start, started_in, std::move(result));
                       });
  }

  void Completed(size_t chain, size_t k, std::chrono::steady_clock::time_point start,
                 int started_in, Result<AppendResult> result) {
    const auto end = std::chrono::steady_clock::now();
    if (result.ok()) chains_[chain].versions[k] = result->last_version;
    const bool go_on = result.ok() && phase_.load(std::memory_order_acquire) != kStop;
    {
      std::lock_guard lock(mu_);
      if (started_in == kMeasure) {
        if (result.ok()) {
          nanos_.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
          if (phase_.load(std::memory_order_acquire) == kMeasure) ++in_interval_;
        } else {
          ++errors_;
          if (!first_error_) first_error_ = result.error();
        }
      } else if (!result.ok() && !first_error_) {
        first_error_ = result.error();
      }
      if (!go_on && --active_ == 0) idle_.notify_all();
    }
    if (go_on) Submit(chain);
  }

  EventStore& store_;
  const std::string& data_;
  std::vector<WriterStreams> chains_;
  std::atomic<int> phase_{kWarmup};
  std::mutex mu_;
  std::condition_variable idle_;
  int active_ = 0;
  std::vector<int64_t> nanos_;
  int64_t in_interval_ = 0;
  int64_t errors_ = 0;
  std::optional<Error> first_error_;
};

Result<Row> RunEvsAsync(const BenchOptions& options, const BenchEngine& engine, int in_flight,
                        const std::string& data) {
  RowFolder folder(options.dir + "/" + engine.system + "-async-" + std::to_string(in_flight));
  auto store = engine.open(folder.path, /*durable=*/true);
  if (!store.ok()) return store.error();
  Row row;
  {
    AsyncAppendRun run(**store, data, in_flight, /*streams_per_chain=*/4);
    row = run.Run(options.warmup_seconds, options.seconds);
  }
  row.system = engine.system;
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

void Describe(Row& row, const std::string& bench, const std::string& concurrency_name,
              int concurrency, const BenchOptions& options) {
  row.bench = bench;
  row.concurrency_name = concurrency_name;
  row.concurrency = concurrency;
  row.extra["durable"] = true;
  if (row.system.find("limit") == std::string::npos) {
    row.extra["events_per_append"] = 1;
    row.extra["event_data_bytes"] = kEventDataBytes;
    if (bench == "append") row.extra["streams"] = concurrency * options.streams_per_writer;
  }
}

// value / baseline to two decimals (0 without a baseline).
double Ratio(double value, double baseline) {
  return baseline > 0 ? std::round(value / baseline * 100) / 100 : 0;
}

}  // namespace

Status RunAppendBench(const BenchOptions& options, Reporter& reporter) {
  const std::string data = EventData150();
  const std::vector<BenchEngine> engines = BenchEngines();
  for (int writers : options.writers) {
    std::fprintf(stderr, "append: sqlite-naive, %d writers...\n", writers);
    auto naive = RunNaive(options, writers, data);
    if (!naive.ok()) return naive.error();
    naive->system = "sqlite-naive";
    Describe(*naive, "append", "writers", writers, options);
    SetRatio(*naive, *naive);
    reporter.Add(*naive);

    std::fprintf(stderr, "append: threads-limit, %d writers...\n", writers);
    auto threads_limit = RunThreadsLimit(options, writers);
    if (!threads_limit.ok()) return threads_limit.error();
    Describe(*threads_limit, "append", "writers", writers, options);
    SetRatio(*threads_limit, *naive);
    reporter.Add(*threads_limit);

    std::fprintf(stderr, "append: fsync-limit, groups of %d...\n", writers);
    auto fsync_limit = RunFsyncLimit(options, writers);
    if (!fsync_limit.ok()) return fsync_limit.error();
    Describe(*fsync_limit, "append", "writers", writers, options);
    SetRatio(*fsync_limit, *naive);
    reporter.Add(*fsync_limit);

    for (const BenchEngine& engine : engines) {
      std::fprintf(stderr, "append: %s, %d writers...\n", engine.system.c_str(), writers);
      auto evs = RunEvs(options, engine, writers, data);
      if (!evs.ok()) return evs.error();
      Describe(*evs, "append", "writers", writers, options);
      SetRatio(*evs, *naive);
      evs->extra["ratio_to_threads_limit"] = Ratio(evs->ops_per_s, threads_limit->ops_per_s);
      evs->extra["ratio_to_fsync_limit"] = Ratio(evs->ops_per_s, fsync_limit->ops_per_s);
      // With one writer the fsync limit's p50 is one write + one fdatasync.
      evs->extra["p50_to_fsync_limit_p50"] =
          Ratio(evs->latency.p50_us, fsync_limit->latency.p50_us);
      reporter.Add(*evs);
    }
  }
  for (int in_flight : options.in_flight) {
    std::fprintf(stderr, "append-async: fsync-limit, groups of %d...\n", in_flight);
    auto fsync_limit = RunFsyncLimit(options, in_flight);
    if (!fsync_limit.ok()) return fsync_limit.error();
    Describe(*fsync_limit, "append-async", "in_flight", in_flight, options);
    SetRatio(*fsync_limit, *fsync_limit);
    reporter.Add(*fsync_limit);
    for (const BenchEngine& engine : engines) {
      std::fprintf(stderr, "append-async: %s, %d in flight...\n", engine.system.c_str(), in_flight);
      auto evs = RunEvsAsync(options, engine, in_flight, data);
      if (!evs.ok()) return evs.error();
      Describe(*evs, "append-async", "in_flight", in_flight, options);
      SetRatio(*evs, *fsync_limit);
      reporter.Add(*evs);
    }
  }
  return OkStatus();
}

}  // namespace evs::bench
