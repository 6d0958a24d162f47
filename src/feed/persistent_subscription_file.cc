#include "feed/persistent_subscription_file.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "feed/parked_rows.h"

namespace evs::feed {
namespace {

using store::Statement;

const std::string kSchema = std::string(R"sql(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE IF NOT EXISTS subscriptions (
  name           TEXT PRIMARY KEY,
  from_position  INTEGER NOT NULL,
  category       TEXT    NOT NULL,
  event_types    TEXT    NOT NULL,
  ack_timeout_ms INTEGER NOT NULL,
  max_deliveries INTEGER NOT NULL,
  checkpoint     INTEGER NOT NULL
);
)sql") + kParkedTableSql + R"sql(
CREATE INDEX IF NOT EXISTS parked_by_subscription ON parked(subscription, id);
)sql";

const std::string kParkedColumns = std::string("SELECT ") + kParkedRowColumns + " FROM parked ";

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status StepDone(Statement& stmt, const std::string& what) {
  const int rc = stmt.Step();
  Error error = stmt.LastError(what);
  stmt.Reset();
  if (rc != SQLITE_DONE) return error;
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<PersistentSubscriptionFile>> PersistentSubscriptionFile::Open(
    const std::string& path) {
  auto db = store::Database::Open(path, /*read_only=*/false);
  if (!db) return db.error();
  if (Status s = db->Exec(kSchema); !s.ok()) return s.error();
  auto park = db->Prepare(
      "INSERT INTO parked(subscription, position, stream_id, version, event_id, type, data, "
      "metadata, recorded_at_us, error, attempts, parked_at_us) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto repark =
      db->Prepare("UPDATE parked SET error = ?2, attempts = ?3, retry_requested = 0 WHERE id = ?1");
  auto unpark = db->Prepare("DELETE FROM parked WHERE id = ?");
  // Never backwards: a checkpoint only moves over what is acked or parked.
  auto checkpoint =
      db->Prepare("UPDATE subscriptions SET checkpoint = MAX(checkpoint, ?2) WHERE name = ?1");
  for (auto* s : {&park, &repark, &unpark, &checkpoint}) {
    if (!*s) return s->error();
  }
  return std::unique_ptr<PersistentSubscriptionFile>(new PersistentSubscriptionFile(
      std::move(db).value(),
      ApplyStatements{std::move(park).value(), std::move(repark).value(), std::move(unpark).value(),
                      std::move(checkpoint).value()}));
}

Result<std::vector<StoredSubscription>> PersistentSubscriptionFile::LoadAll() {
  std::lock_guard guard(mu_);
  auto stmt = db_.Prepare(
      "SELECT name, from_position, category, event_types, ack_timeout_ms, max_deliveries, "
      "checkpoint FROM subscriptions ORDER BY name");
  if (!stmt) return stmt.error();
  std::vector<StoredSubscription> out;
  int rc;
  while ((rc = stmt->Step()) == SQLITE_ROW) {
    StoredSubscription& s = out.emplace_back();
    s.name = std::string(stmt->Text(0));
    s.settings.from = stmt->Int(1);
    s.settings.category = std::string(stmt->Text(2));
    auto types = nlohmann::json::parse(stmt->Text(3), nullptr, /*allow_exceptions=*/false);
    if (types.is_array()) {
      for (const auto& t : types) {
        if (t.is_string()) s.settings.event_types.push_back(t.get<std::string>());
      }
    }
    s.settings.ack_timeout_ms = stmt->Int(4);
    s.settings.max_deliveries = stmt->Int(5);
    s.checkpoint = stmt->Int(6);
  }
  if (rc != SQLITE_DONE) return stmt->LastError("loading persistent subscriptions");
  return out;
}

Status PersistentSubscriptionFile::Put(const StoredSubscription& s) {
  std::lock_guard guard(mu_);
  auto stmt = db_.Prepare(
      "INSERT INTO subscriptions(name, from_position, category, event_types, ack_timeout_ms, "
      "max_deliveries, checkpoint) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
      "category = excluded.category, event_types = excluded.event_types, "
      "ack_timeout_ms = excluded.ack_timeout_ms, max_deliveries = excluded.max_deliveries");
  if (!stmt) return stmt.error();
  const std::string types = nlohmann::json(s.settings.event_types).dump();
  stmt->Bind(1, s.name);
  stmt->Bind(2, s.settings.from);
  stmt->Bind(3, s.settings.category);
  stmt->Bind(4, types);
  stmt->Bind(5, s.settings.ack_timeout_ms);
  stmt->Bind(6, s.settings.max_deliveries);
  stmt->Bind(7, s.checkpoint);
  return StepDone(*stmt, "saving persistent subscription " + s.name);
}

Status PersistentSubscriptionFile::Delete(const std::string& name) {
  std::lock_guard guard(mu_);
  if (Status s = db_.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  Status done = OkStatus();
  for (const char* sql :
       {"DELETE FROM parked WHERE subscription = ?", "DELETE FROM subscriptions WHERE name = ?"}) {
    auto stmt = db_.Prepare(sql);
    if (!stmt) {
      done = stmt.error();
      break;
    }
    stmt->Bind(1, name);
    done = StepDone(*stmt, "deleting persistent subscription " + name);
    if (!done.ok()) break;
  }
  if (!done.ok()) {
    (void)db_.Exec("ROLLBACK");
    return done;
  }
  return db_.Exec("COMMIT");
}

Status PersistentSubscriptionFile::Apply(const std::vector<SubscriptionWrite>& writes) {
  std::lock_guard guard(mu_);
  store::Statement* park = &apply_.park;
  store::Statement* repark = &apply_.repark;
  store::Statement* unpark = &apply_.unpark;
  store::Statement* checkpoint = &apply_.checkpoint;
  if (Status s = db_.Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  auto write = [&]() -> Status {
    for (const SubscriptionWrite& w : writes) {
      for (const ParkedEvent& p : w.parks) {
        const std::string id = p.event.id.ToString();
        park->Bind(1, w.name);
        park->Bind(2, p.event.position);
        park->Bind(3, p.event.stream_id);
        park->Bind(4, p.event.version);
        park->Bind(5, id);
        park->Bind(6, p.event.type);
        park->Bind(7, p.event.data);
        park->Bind(8, p.event.metadata);
        park->Bind(9, p.event.recorded_at_us);
        park->Bind(10, p.error);
        park->Bind(11, static_cast<int64_t>(p.attempts));
        park->Bind(12, NowMicros());
        if (Status s = StepDone(*park, "parking an event of " + w.name); !s.ok()) return s;
      }
      for (const ParkedEvent& p : w.reparks) {
        repark->Bind(1, p.id);
        repark->Bind(2, p.error);
        repark->Bind(3, static_cast<int64_t>(p.attempts));
        if (Status s = StepDone(*repark, "parking an event of " + w.name); !s.ok()) return s;
      }
      for (int64_t id : w.unparks) {
        unpark->Bind(1, id);
        if (Status s = StepDone(*unpark, "unparking an event of " + w.name); !s.ok()) return s;
      }
      if (w.checkpoint) {
        checkpoint->Bind(1, w.name);
        checkpoint->Bind(2, *w.checkpoint);
        if (Status s = StepDone(*checkpoint, "saving the checkpoint of " + w.name); !s.ok()) {
          return s;
        }
      }
    }
    return OkStatus();
  };
  if (Status s = write(); !s.ok()) {
    (void)db_.Exec("ROLLBACK");
    return s;
  }
  return db_.Exec("COMMIT");
}

Result<std::vector<ParkedEvent>> PersistentSubscriptionFile::QueryParked(const std::string& where,
                                                                         const std::string& name,
                                                                         int64_t after_id,
                                                                         int64_t limit) {
  auto stmt = db_.Prepare(std::string(kParkedColumns) + where);
  if (!stmt) return stmt.error();
  stmt->Bind(1, name);
  if (stmt->ParameterCount() >= 2) stmt->Bind(2, after_id);
  if (stmt->ParameterCount() >= 3) stmt->Bind(3, limit);
  std::vector<ParkedEvent> out;
  int rc;
  while ((rc = stmt->Step()) == SQLITE_ROW) {
    out.push_back(ReadParkedRow(*stmt));
  }
  if (rc != SQLITE_DONE) return stmt->LastError("listing parked events of " + name);
  return out;
}

Result<std::vector<ParkedEvent>> PersistentSubscriptionFile::ListParked(const std::string& name,
                                                                        int64_t after_id,
                                                                        size_t limit) {
  std::lock_guard guard(mu_);
  return QueryParked("WHERE subscription = ?1 AND id > ?2 ORDER BY id LIMIT ?3", name, after_id,
                     static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
}

Result<int64_t> PersistentSubscriptionFile::CountParked(const std::string& name) {
  std::lock_guard guard(mu_);
  auto stmt = db_.Prepare("SELECT COUNT(*) FROM parked WHERE subscription = ?");
  if (!stmt) return stmt.error();
  stmt->Bind(1, name);
  if (stmt->Step() != SQLITE_ROW) return stmt->LastError("counting parked events of " + name);
  return stmt->Int(0);
}

Result<std::vector<ParkedEvent>> PersistentSubscriptionFile::RequestRetry(
    const std::string& name, const std::vector<int64_t>& ids) {
  std::lock_guard guard(mu_);
  auto mark =
      db_.Prepare(ids.empty() ? "UPDATE parked SET retry_requested = 1 WHERE subscription = ?1"
                              : "UPDATE parked SET retry_requested = 1 WHERE subscription = ?1 "
                                "AND id = ?2");
  if (!mark) return mark.error();
  if (Status s = db_.Exec("BEGIN IMMEDIATE"); !s.ok()) return s.error();
  Status marked = OkStatus();
  if (ids.empty()) {
    mark->Bind(1, name);
    marked = StepDone(*mark, "retrying parked events of " + name);
  }
  for (int64_t id : ids) {
    mark->Bind(1, name);
    mark->Bind(2, id);
    marked = StepDone(*mark, "retrying parked events of " + name);
    if (!marked.ok()) break;
  }
  if (!marked.ok()) {
    (void)db_.Exec("ROLLBACK");
    return marked.error();
  }
  if (Status s = db_.Exec("COMMIT"); !s.ok()) return s.error();
  return QueryParked("WHERE subscription = ?1 AND retry_requested = 1 ORDER BY id", name, 0, 0);
}

Result<std::vector<ParkedEvent>> PersistentSubscriptionFile::RetryRequested(
    const std::string& name) {
  std::lock_guard guard(mu_);
  return QueryParked("WHERE subscription = ?1 AND retry_requested = 1 ORDER BY id", name, 0, 0);
}

}  // namespace evs::feed
