// The embedded store's SQL: its schema and the conversion of rows to events.
//
//   streams(stream_no INTEGER PRIMARY KEY, stream_id UNIQUE): a number for each stream.
//   events(position INTEGER PRIMARY KEY, stream_no, version, event_id, type, data, metadata,
//          recorded_at_us) with a unique index on (stream_no, version).
//   stream_events: a view of events with their stream ids, for people.
//   stream_meta(stream_no PRIMARY KEY, max_count, max_age_s, truncate_before, custom,
//               deleted_through, hard_deleted, scavenged_through): the lifecycle of streams
//               that have one, and how far scavenging has gone in each. Added
//               in place when a store of the first release is opened (CREATE IF NOT EXISTS).
//
// New stores are created with auto_vacuum = INCREMENTAL, so that scavenging can give pages
// back to the file system a few at a time while the store is in use.
//
// The index is keyed on the stream's number, not its id: entries of a few bytes instead of
// ~50 keep the index pages that each commit rewrites few (measured: 3.5x less CPU per append).
//
// README.md documents the schema for operators; keep the two in step.
#pragma once

#include <climits>
#include <string_view>
#include <vector>

#include "evs/event.h"
#include "evs/event_store.h"
#include "evs/status.h"
#include "store/commit_planner.h"
#include "store/sqlite.h"

namespace evs::store {

inline constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS streams (
  stream_no INTEGER PRIMARY KEY,
  stream_id TEXT    NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS events (
  position       INTEGER PRIMARY KEY,
  stream_no      INTEGER NOT NULL,
  version        INTEGER NOT NULL,
  event_id       TEXT    NOT NULL,
  type           TEXT    NOT NULL,
  data           TEXT    NOT NULL,
  metadata       TEXT    NOT NULL,
  recorded_at_us INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events(stream_no, version);
CREATE VIEW IF NOT EXISTS stream_events AS
  SELECT e.position, s.stream_id, e.version, e.event_id, e.type, e.data, e.metadata,
         e.recorded_at_us
  FROM events e JOIN streams s ON s.stream_no = e.stream_no;
CREATE TABLE IF NOT EXISTS stream_meta (
  stream_no       INTEGER PRIMARY KEY,
  max_count       INTEGER,
  max_age_s       INTEGER,
  truncate_before INTEGER,
  custom          TEXT,
  deleted_through INTEGER NOT NULL DEFAULT 0,
  hard_deleted    INTEGER NOT NULL DEFAULT 0,
  scavenged_through INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS evs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO evs_meta(key, value) VALUES ('format_version', '1');
)sql";

// Selects the columns ReadEvents() expects, in order; append a WHERE clause on e.* columns.
inline constexpr std::string_view kSelectEvents =
    "SELECT e.position, s.stream_id, e.version, e.event_id, e.type, e.data, e.metadata, "
    "e.recorded_at_us FROM events e JOIN streams s ON s.stream_no = e.stream_no ";

// The same columns for one stream's events, whose id the caller knows: no join.
inline constexpr std::string_view kSelectStreamEvents =
    "SELECT e.position, NULL, e.version, e.event_id, e.type, e.data, e.metadata, "
    "e.recorded_at_us FROM events e ";

// Steps a prepared, bound statement that selects like kSelectEvents (or kSelectStreamEvents,
// passing `stream_id`) to its end, then resets it. A malformed stored event id is kCorruption
// naming its position.
// `expected_rows` sizes the result up front.
Result<std::vector<RecordedEvent>> ReadEvents(Statement& stmt, std::string_view stream_id = {},
                                              size_t expected_rows = 0);

// One page of a stream whose number and durable version the caller knows, read with prepared
// statements of kSelectStreamEvents that bind (stream_no, from, max version, limit): `forward`
// ordered by version, `backward` by version descending.
Result<StreamPage> ReadStreamPage(Statement& forward, Statement& backward,
                                  std::string_view stream_id, int64_t stream_number,
                                  int64_t stream_version, const ReadStreamOptions& options,
                                  int64_t first_visible = 1, int64_t age_cutoff_us = INT64_MIN);

// The WHERE clause and order of the statements ReadStreamPage() takes, after kSelectStreamEvents:
// they bind (stream_no, lowest version, highest version, age cutoff, limit).
inline constexpr std::string_view kStreamForward =
    "WHERE e.stream_no = ? AND e.version >= ? AND e.version <= ? AND e.recorded_at_us >= ? "
    "ORDER BY e.version LIMIT ?";
inline constexpr std::string_view kStreamBackward =
    "WHERE e.stream_no = ? AND e.version >= ? AND e.version <= ? AND e.recorded_at_us >= ? "
    "ORDER BY e.version DESC LIMIT ?";

// The lifecycle columns of stream_meta, for a stream's head: max_count, max_age_s,
// truncate_before, custom, deleted_through, hard_deleted at `first_column` on.
void LoadLifecycle(Statement& stmt, int first_column, StreamHead& head);

}  // namespace evs::store
