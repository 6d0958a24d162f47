// A parked event as a row of SQLite: the checkpoint store and the persistent subscriptions' file
// keep parked events in tables of the same columns.
#pragma once

#include <string>

#include "evs/subscription.h"
#include "store/sqlite.h"

namespace evs::feed {

// The table "parked" that both files create: the columns below, and retry_requested (0 or 1).
inline constexpr const char* kParkedTableSql = R"sql(
CREATE TABLE IF NOT EXISTS parked (
  id              INTEGER PRIMARY KEY,
  subscription    TEXT    NOT NULL,
  position        INTEGER NOT NULL,
  stream_id       TEXT    NOT NULL,
  version         INTEGER NOT NULL,
  event_id        TEXT    NOT NULL,
  type            TEXT    NOT NULL,
  data            TEXT    NOT NULL,
  metadata        TEXT    NOT NULL,
  recorded_at_us  INTEGER NOT NULL,
  error           TEXT    NOT NULL,
  attempts        INTEGER NOT NULL,
  parked_at_us    INTEGER NOT NULL,
  retry_requested INTEGER NOT NULL DEFAULT 0
);
)sql";

// The columns that ReadParkedRow reads, in its order: "SELECT " + this + " FROM ...".
inline constexpr const char* kParkedRowColumns =
    "id, subscription, position, stream_id, version, event_id, type, data, metadata, "
    "recorded_at_us, error, attempts, parked_at_us, retry_requested";

// The parked event of the row that `stmt` stands on.
inline ParkedEvent ReadParkedRow(const store::Statement& stmt) {
  ParkedEvent p;
  p.id = stmt.Int(0);
  p.subscription = std::string(stmt.Text(1));
  p.event.position = stmt.Int(2);
  p.event.stream_id = std::string(stmt.Text(3));
  p.event.version = stmt.Int(4);
  p.event.id = Uuid::Parse(stmt.Text(5)).value_or(Uuid{});
  p.event.type = std::string(stmt.Text(6));
  p.event.data = std::string(stmt.Text(7));
  p.event.metadata = std::string(stmt.Text(8));
  p.event.recorded_at_us = stmt.Int(9);
  p.error = std::string(stmt.Text(10));
  p.attempts = static_cast<int>(stmt.Int(11));
  p.parked_at_us = stmt.Int(12);
  p.retry_requested = stmt.Int(13) != 0;
  return p;
}

}  // namespace evs::feed
