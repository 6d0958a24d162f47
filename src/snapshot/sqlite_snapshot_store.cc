// Snapshots in a SQLite file of their own, one row per stream.
//
// synchronous=NORMAL: a snapshot that a power loss takes back is only a cache entry lost; the
// repository rebuilds from the events, and checks every snapshot against the stream it reads.
// Save is one upsert that keeps the row of the higher version, so that processes saving the
// same stream at once cannot put an older snapshot over a newer one.
#include <mutex>

#include "snapshot/validate_snapshot.h"
#include "store/sqlite.h"

namespace evs {
namespace {

using store::Database;
using store::Statement;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS snapshots (
  stream_id      TEXT PRIMARY KEY,
  version        INTEGER NOT NULL,
  last_event_id  TEXT    NOT NULL,
  schema_version INTEGER NOT NULL,
  state          TEXT    NOT NULL,
  taken_at_us    INTEGER NOT NULL
);
)sql";

constexpr std::string_view kColumns =
    "SELECT stream_id, version, last_event_id, schema_version, state, taken_at_us, "
    "typeof(version) = 'integer' AND typeof(schema_version) = 'integer' AND "
    "typeof(state) = 'text' AND typeof(taken_at_us) = 'integer' FROM snapshots ";

class SqliteSnapshotStore final : public SnapshotStore {
 public:
  SqliteSnapshotStore(Database db, std::shared_ptr<Clock> clock)
      : clock_(clock ? std::move(clock) : SystemClock()), db_(std::move(db)) {}

  Status Prepare() {
    const std::string columns(kColumns);
    struct {
      Statement* target;
      std::string sql;
    } statements[] = {
        {&load_, columns + "WHERE stream_id = ?"},
        {&save_,
         "INSERT INTO snapshots(stream_id, version, last_event_id, schema_version, state, "
         "taken_at_us) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(stream_id) DO UPDATE SET "
         "version = excluded.version, last_event_id = excluded.last_event_id, "
         "schema_version = excluded.schema_version, state = excluded.state, "
         "taken_at_us = excluded.taken_at_us WHERE excluded.version >= snapshots.version"},
        // Rows from where the prefix's range starts, in key order (the primary key's index);
        // List stops at the first one past the range, so a page costs its rows, not the table.
        {&list_, columns + "WHERE stream_id > ?1 AND stream_id >= ?2 ORDER BY stream_id"},
        {&drop_, "DELETE FROM snapshots WHERE ?1 = '' OR stream_id = ?1"},
    };
    for (auto& s : statements) {
      auto prepared = db_.Prepare(s.sql);
      if (!prepared) return prepared.error();
      *s.target = std::move(prepared).value();
    }
    return OkStatus();
  }

  Result<std::optional<Snapshot>> Load(const std::string& stream_id) override {
    std::lock_guard guard(mu_);
    load_.Bind(1, stream_id);
    Result<std::optional<Snapshot>> out = std::optional<Snapshot>();
    const int rc = load_.Step();
    if (rc == SQLITE_ROW) {
      auto row = Row(load_);
      if (row.ok()) {
        out = std::optional<Snapshot>(std::move(row).value());
      } else {
        out = row.error();
      }
    } else if (rc != SQLITE_DONE) {
      out = load_.LastError("loading the snapshot of '" + stream_id + "'");
    }
    load_.Reset();
    return out;
  }

  Status Save(const Snapshot& snapshot) override {
    if (Status s = snapshot::ValidateSnapshot(snapshot); !s.ok()) return s;
    std::lock_guard guard(mu_);
    const std::string event_id = snapshot.last_event_id.ToString();
    save_.Bind(1, snapshot.stream_id);
    save_.Bind(2, snapshot.version);
    save_.Bind(3, event_id);
    save_.Bind(4, int64_t{snapshot.schema_version});
    save_.Bind(5, snapshot.state);
    save_.Bind(6, clock_->NowMicros());
    return StepToEnd(save_, "saving the snapshot of '" + snapshot.stream_id + "'");
  }

  Result<std::vector<Snapshot>> List(const std::string& prefix, const std::string& after_stream,
                                     size_t limit) override {
    std::lock_guard guard(mu_);
    list_.Bind(1, after_stream);
    list_.Bind(2, prefix);
    Result<std::vector<Snapshot>> out = std::vector<Snapshot>();
    while (out->size() < limit) {
      const int rc = list_.Step();
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        out = list_.LastError("listing snapshots");
        break;
      }
      if (!list_.Text(0).starts_with(prefix)) break;  // past the prefix's range
      auto row = Row(list_);
      if (!row.ok()) {
        out = row.error();
        break;
      }
      out->push_back(std::move(row).value());
    }
    list_.Reset();
    return out;
  }

  Result<int64_t> Drop(const std::string& stream_id) override {
    std::lock_guard guard(mu_);
    drop_.Bind(1, stream_id);
    if (Status s = StepToEnd(drop_, "dropping snapshots"); !s.ok()) return s.error();
    return static_cast<int64_t>(sqlite3_changes(db_.raw()));
  }

 private:
  // Runs a statement that returns no rows, then resets it.
  static Status StepToEnd(Statement& statement, const std::string& what) {
    const int rc = statement.Step();
    Status out = OkStatus();
    if (rc != SQLITE_DONE) out = statement.LastError(what);
    statement.Reset();
    return out;
  }

  // The snapshot in the current row of a kColumns query; kCorruption naming the stream for a
  // row that no Save wrote (another program, or a damaged file that SQLite still reads).
  static Result<Snapshot> Row(const Statement& row) {
    Snapshot snapshot;
    snapshot.stream_id = std::string(row.Text(0));
    snapshot.version = row.Int(1);
    const std::optional<Uuid> id = Uuid::Parse(row.Text(2));
    const int64_t schema_version = row.Int(3);
    const bool typed = row.Int(6) != 0;
    if (!typed || !id || snapshot.version < 1 || schema_version < INT32_MIN ||
        schema_version > INT32_MAX) {
      return Error::Make(ErrorCode::kCorruption,
                         "the snapshot of '" + snapshot.stream_id +
                             "' is damaged (drop it with: evs snapshots drop STREAM)");
    }
    snapshot.last_event_id = *id;
    snapshot.schema_version = static_cast<int>(schema_version);
    snapshot.state = std::string(row.Text(4));
    snapshot.taken_at_us = row.Int(5);
    return snapshot;
  }

  const std::shared_ptr<Clock> clock_;
  std::mutex mu_;  // one connection, one statement of each at a time
  Database db_;
  Statement load_, save_, list_, drop_;
};

}  // namespace

std::string SnapshotPathFor(const std::string& store_path) { return store_path + "-snapshots"; }

Result<std::unique_ptr<SnapshotStore>> OpenSqliteSnapshotStore(const std::string& path,
                                                               SqliteSnapshotStoreOptions options) {
  auto db = Database::Open(path, /*read_only=*/false);
  if (!db) return db.error();
  // Any number of processes may open the file (evs serve, evs snapshots, a test beside them).
  if (Status ready = store::PrepareSharedFile(*db, kSchema); !ready.ok()) return ready.error();
  auto store = std::make_unique<SqliteSnapshotStore>(std::move(db).value(), options.clock);
  if (Status s = store->Prepare(); !s.ok()) return s.error();
  return std::unique_ptr<SnapshotStore>(std::move(store));
}

}  // namespace evs
