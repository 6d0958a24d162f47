// Checkpoints and parked events in a SQLite file of their own.
//
// synchronous=NORMAL: a checkpoint that a power loss takes back only makes the subscription
// deliver some events again (at-least-once); it never skips one.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

#include "evs/clock.h"
#include "evs/subscription.h"
#include "feed/parked_rows.h"
#include "store/sqlite.h"

namespace evs {
namespace {

using store::Database;
using store::Statement;

const std::string kSchema = std::string(R"sql(
CREATE TABLE IF NOT EXISTS checkpoints (
  subscription  TEXT PRIMARY KEY,
  checkpoint    TEXT NOT NULL,
  updated_at_us INTEGER NOT NULL
);
)sql") + feed::kParkedTableSql +
                            R"sql(
CREATE INDEX IF NOT EXISTS parked_by_retry ON parked(subscription, retry_requested, id);
CREATE TABLE IF NOT EXISTS subscription_states (
  subscription  TEXT PRIMARY KEY,
  state         TEXT NOT NULL,
  error         TEXT NOT NULL,
  updated_at_us INTEGER NOT NULL
);
)sql";

const std::string kParkedColumns =
    std::string("SELECT ") + feed::kParkedRowColumns + " FROM parked ";

class SqliteCheckpointStore final : public CheckpointStore {
 public:
  SqliteCheckpointStore(Database db, std::shared_ptr<Clock> clock)
      : clock_(clock ? std::move(clock) : SystemClock()), db_(std::move(db)) {}

  Status Prepare() {
    const std::string parked(kParkedColumns);
    struct {
      Statement* target;
      std::string sql;
    } statements[] = {
        {&load_, "SELECT checkpoint FROM checkpoints WHERE subscription = ?"},
        {&save_,
         "INSERT INTO checkpoints(subscription, checkpoint, updated_at_us) VALUES (?, ?, ?) "
         "ON CONFLICT(subscription) DO UPDATE SET checkpoint = excluded.checkpoint, "
         "updated_at_us = excluded.updated_at_us"},
        {&park_,
         "INSERT INTO parked(subscription, position, stream_id, version, event_id, type, data, "
         "metadata, recorded_at_us, error, attempts, parked_at_us) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"},
        {&list_, parked + "WHERE (?1 = '' OR subscription = ?1) AND id > ?2 ORDER BY id LIMIT ?3"},
        {&count_, "SELECT COUNT(*) FROM parked WHERE ?1 = '' OR subscription = ?1"},
        {&requested_,
         parked + "WHERE subscription = ?1 AND retry_requested = 1 ORDER BY id LIMIT ?2"},
        {&retry_, "UPDATE parked SET retry_requested = 1 WHERE id = ?"},
        {&retry_failed_,
         "UPDATE parked SET error = ?2, attempts = attempts + 1, retry_requested = 0 WHERE id = "
         "?1"},
        {&unpark_, "DELETE FROM parked WHERE id = ?"},
        {&save_state_,
         "INSERT INTO subscription_states(subscription, state, error, updated_at_us) "
         "VALUES (?, ?, ?, ?) ON CONFLICT(subscription) DO UPDATE SET state = excluded.state, "
         "error = excluded.error, updated_at_us = excluded.updated_at_us"},
    };
    for (auto& s : statements) {
      auto stmt = db_.Prepare(s.sql);
      if (!stmt) return stmt.error();
      *s.target = std::move(stmt).value();
    }
    return OkStatus();
  }

  Result<std::optional<std::string>> Load(const std::string& subscription) override {
    std::lock_guard guard(mu_);
    load_.Bind(1, subscription);
    int rc = load_.Step();
    std::optional<std::string> checkpoint;
    if (rc == SQLITE_ROW) checkpoint = std::string(load_.Text(0));
    Error error = load_.LastError("loading checkpoint of " + subscription);
    load_.Reset();
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return error;
    return checkpoint;
  }

  Status Save(const std::string& subscription, const std::string& checkpoint) override {
    std::lock_guard guard(mu_);
    save_.Bind(1, subscription);
    save_.Bind(2, checkpoint);
    save_.Bind(3, clock_->NowMicros());
    return StepDone(save_, "saving checkpoint of " + subscription);
  }

  Status Park(const ParkedEvent& p) override {
    std::lock_guard guard(mu_);
    const std::string id = p.event.id.ToString();
    park_.Bind(1, p.subscription);
    park_.Bind(2, p.event.position);
    park_.Bind(3, p.event.stream_id);
    park_.Bind(4, p.event.version);
    park_.Bind(5, id);
    park_.Bind(6, p.event.type);
    park_.Bind(7, p.event.data);
    park_.Bind(8, p.event.metadata);
    park_.Bind(9, p.event.recorded_at_us);
    park_.Bind(10, p.error);
    park_.Bind(11, static_cast<int64_t>(p.attempts));
    park_.Bind(12, p.parked_at_us ? p.parked_at_us : clock_->NowMicros());
    return StepDone(park_, "parking an event of " + p.subscription);
  }

  Result<std::vector<ParkedEvent>> ListParked(const std::string& subscription, int64_t after_id,
                                              size_t limit) override {
    std::lock_guard guard(mu_);
    list_.Bind(1, subscription);
    list_.Bind(2, after_id);
    list_.Bind(3, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
    return ReadParked(list_);
  }

  Result<int64_t> CountParked(const std::string& subscription) override {
    std::lock_guard guard(mu_);
    count_.Bind(1, subscription);
    const int rc = count_.Step();
    const int64_t count = rc == SQLITE_ROW ? count_.Int(0) : 0;
    Error error = count_.LastError("counting parked events");
    count_.Reset();
    if (rc != SQLITE_ROW) return error;
    return count;
  }

  Result<std::vector<ParkedEvent>> RetryRequested(const std::string& subscription,
                                                  size_t limit) override {
    std::lock_guard guard(mu_);
    requested_.Bind(1, subscription);
    requested_.Bind(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
    return ReadParked(requested_);
  }

  Status FinishRetry(int64_t parked_id, const std::optional<std::string>& error) override {
    if (!error) return ChangeOne(unpark_, parked_id);
    std::lock_guard guard(mu_);
    retry_failed_.Bind(1, parked_id);
    retry_failed_.Bind(2, *error);
    return CheckChanged(StepDone(retry_failed_, "recording a failed retry"), parked_id);
  }

  Status SaveState(const std::string& subscription, const std::string& state,
                   const std::string& error) override {
    std::lock_guard guard(mu_);
    save_state_.Bind(1, subscription);
    save_state_.Bind(2, state);
    save_state_.Bind(3, error);
    save_state_.Bind(4, clock_->NowMicros());
    return StepDone(save_state_, "saving the state of " + subscription);
  }

  Status RequestRetry(int64_t parked_id) override { return ChangeOne(retry_, parked_id); }
  Status Unpark(int64_t parked_id) override { return ChangeOne(unpark_, parked_id); }

 private:
  Status StepDone(Statement& stmt, const std::string& what) {
    int rc = stmt.Step();
    Error error = stmt.LastError(what);
    stmt.Reset();
    if (rc != SQLITE_DONE) return error;
    return OkStatus();
  }

  // With mu_ held.
  Result<std::vector<ParkedEvent>> ReadParked(Statement& stmt) {
    std::vector<ParkedEvent> out;
    int rc;
    while ((rc = stmt.Step()) == SQLITE_ROW) {
      out.push_back(feed::ReadParkedRow(stmt));
    }
    Error error = stmt.LastError("listing parked events");
    stmt.Reset();
    if (rc != SQLITE_DONE) return error;
    return out;
  }

  Status ChangeOne(Statement& stmt, int64_t parked_id) {
    std::lock_guard guard(mu_);
    stmt.Bind(1, parked_id);
    return CheckChanged(StepDone(stmt, "changing parked event " + std::to_string(parked_id)),
                        parked_id);
  }

  // With mu_ held: kNotFound when the statement that just ran changed no row.
  Status CheckChanged(Status stepped, int64_t parked_id) {
    if (!stepped) return stepped;
    if (sqlite3_changes(db_.raw()) == 0) {
      return Error::Make(ErrorCode::kNotFound,
                         "no parked event with id " + std::to_string(parked_id));
    }
    return OkStatus();
  }

  const std::shared_ptr<Clock> clock_;
  std::mutex mu_;
  Database db_;
  Statement load_, save_, park_, list_, count_, requested_, retry_, retry_failed_, unpark_,
      save_state_;
};

}  // namespace

Result<std::unique_ptr<CheckpointStore>> OpenSqliteCheckpointStore(const std::string& path,
                                                                   std::shared_ptr<Clock> clock) {
  auto db = Database::Open(path, /*read_only=*/false);
  if (!db) return db.error();
  // Several processes may open the file at once (group members).
  if (Status ready = store::PrepareSharedFile(*db, kSchema); !ready.ok()) return ready.error();
  auto store = std::make_unique<SqliteCheckpointStore>(std::move(db).value(), std::move(clock));
  if (auto s = store->Prepare(); !s) return s.error();
  return std::unique_ptr<CheckpointStore>(std::move(store));
}

}  // namespace evs
