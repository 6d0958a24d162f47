// The event store on PostgreSQL: one database shared by many evs processes and hosts, with a
// gap-free global log. Part of the evs::postgres component (target evs::postgres, through libpq);
// a program that does not link it does not need libpq.
//
// Tables (schema version 3, in the connection's schema, normally `public`):
//   evs_schema_version (version)            the schema's version; migrations move it on
//   evs_streams (stream_id, version, deleted_through, hard_deleted, max_count, max_age_seconds,
//                truncate_before, custom, scavenged_through)    each stream's head and
//                                           lifecycle: appends, lifecycle changes and scavenge
//                                           steps lock its row (version 2 added the lifecycle
//                                           columns, version 3 scavenged_through; older
//                                           databases migrate)
//   evs_events (position, stream_id, version, event_id, type, data, metadata, recorded_at_us)
//                                           unique (stream_id, version) and unique event_id
//   evs_log_head (id = 1, position, recorded_at_us)   the log's head: one row
//   evs_checkpoints, evs_parked, evs_subscription_states   what OpenPostgresCheckpointStore keeps
//   evs_key_store, evs_keys                  the key store of personal data (version 3;
//                                           evs/postgres_key_store.h)
//
// Appends: a writer per store (two threads and connections, so that the next batch prepares while
// one commits) takes the queued appends (blocking and asynchronous) and commits each batch in
// one READ COMMITTED transaction: it locks the streams' rows (SELECT ... FOR UPDATE, in stream
// id order, so that writers in other processes never deadlock), decides each append against the
// locked versions and the event ids already committed (a conflicting append fails alone), moves
// the streams' versions, then takes positions from the evs_log_head row (UPDATE ... RETURNING, a
// row lock held until COMMIT) and inserts the events in the same statement (arrays unnested on
// the server), and commits; NOTIFY evs_log wakes every listener. The writer remembers each
// stream's head as it left it, and when every stream of a batch is known and every append is a
// write against those heads, it sends the whole transaction at once (one round trip): the
// statement that moves the versions checks them, and that no event id is committed, under the
// rows' locks, and fails the transaction when the prediction was wrong (another process wrote,
// a lifecycle change); the batch is then decided the long way (two round trips: lock and look
// the ids up, then write and commit). Either way the head row is locked only by the statement
// that inserts the events, sent with COMMIT: the time every writer of the database waits for is
// that statement and COMMIT's WAL flush, with no round trip to the client in between.
//
// The log has no holes a reader can step over: positions are taken under the head row's lock, so
// transactions that assign positions commit one after another, and the next one gets the lock
// only after the previous one's commit is visible. A reader that sees position p + 1 therefore
// also sees p. The cost: commits that write events serialize on that row (one insert and one WAL
// flush at a time, shared by every append of its batch); README.md gives measured figures
// (evs-bench postgres).
//
// Idempotent retries follow event_store.h by looking up the event ids in the database, so a
// retry is recognised however old the original is. A connection lost while the writer's
// transaction is open is rolled back by the server; the writer reconnects (for up to
// `reconnect_seconds`) and runs the batch again. If the connection is lost during COMMIT (the
// outcome unknown), running the batch again resolves it by the event ids: appends that were
// committed come back as their original results, the rest are written now. Nothing acknowledged
// is lost and nothing is written twice.
//
// Stream lifecycle (see "Stream lifecycle" in README.md): SetStreamMetadata and DeleteStream (soft
// and hard, with an expected version) run in a transaction that locks the stream's row, as the
// writer does for appends, and decide as the embedded store does (store::CommitPlanner); the
// writer refuses appends to a hard-deleted stream (kStreamDeleted) and restarts a soft-deleted
// one at its next version. Reads (ReadStream, StreamVersion, ListStreams, GetStreamLifecycle)
// read the row and return what the embedded store would (store/stream_lifecycle.h); ReadStream
// reads the row and the events in one REPEATABLE READ transaction, so that a change committed
// between its two statements is seen by both or neither; max_age is measured by `clock`.
// Scavenge turns the hidden events into markers in place, a step at a time, each step a
// transaction under the stream's row lock, as the embedded store's (store/sqlite_scavenger.h);
// then VACUUM evs_events (VACUUM FULL with `compact`). It uses a connection of its own while it
// runs.
//
// libpq 14 or newer (its pipeline mode); tested against PostgreSQL 15. Connections per store: two
// for the writer, one listener and up to `read_connections` readers (and one while Scavenge
// runs). Batches lock their rows and complete in the order they were taken; if a batch's
// transaction is lost and run again, the batch after it may have been decided without its writes
// (a conflict it would not otherwise have met). Every connection plans prepared statements for
// their parameters (plan_cache_mode force_custom_plan), so that a plan made while the tables were
// empty is not kept, and the writer's transactions find rows by key only (SET LOCAL
// enable_seqscan = off: without statistics yet, PostgreSQL would scan the tables). A batch's new
// streams' rows are inserted ahead of its transaction, in one of their own that does not wait for
// its WAL flush (the batch's COMMIT flushes past it).
//
// Thread safety: as event_store.h; any number of processes may open the same database.
#pragma once

#include <memory>
#include <string>

#include "evs/clock.h"
#include "evs/event_store.h"
#include "evs/status.h"
#include "evs/subscription.h"

namespace evs {

// How OpenPostgresEventStore connects. Only `url` must be set.
struct PostgresStoreOptions {
  // A libpq connection string: a URI (`postgres://USER@HOST:PORT/DB`, `postgresql://...`) or
  // key=value pairs.
  std::string url;
  Limits limits;  // checked on every append, before anything is sent
  // Create the schema (or migrate an older one) when the database does not have this release's.
  // Otherwise such a database is kNotFound ("run evs pg init").
  bool create_schema = true;
  // The most appends that one transaction takes from the queue.
  size_t max_batch_appends = 1024;
  // The most events that one transaction takes from the queue (at most 8,000; one append may
  // take a batch past it).
  size_t max_batch_events = 8000;
  // Connections kept open for reads.
  size_t read_connections = 4;
  // How long the writer keeps trying to reconnect before it fails the appends of its batch with
  // kUnavailable.
  int reconnect_seconds = 30;
  // The clock that recorded times come from, and that max_age_seconds is measured by. Null:
  // SystemClock().
  std::shared_ptr<Clock> clock;
};

// Connects and opens the store. kInvalidArgument for a malformed url, kUnavailable when the
// server cannot be reached, kNotFound for a database without evs's schema (and !create_schema),
// kUnsupported for a schema newer than this release knows.
Result<std::unique_ptr<EventStore>> OpenPostgresEventStore(const PostgresStoreOptions& options);

// Creates evs's tables in the database, or migrates them to this release's schema version. Safe
// to run again, and from several processes at once (an advisory lock serializes them). Returns
// the schema version the database is at.
Result<int> InitPostgresSchema(const std::string& url);

// The schema version this release writes.
inline constexpr int kPostgresSchemaVersion = 3;

// Checkpoints, parked events and subscription states in the same database, shared by every
// process on it: for subscriptions that read a PostgreSQL store. Save() is durable when it
// returns. Creates (or migrates) the schema like InitPostgresSchema. Thread-safe (one connection,
// reconnected when lost).
Result<std::unique_ptr<CheckpointStore>> OpenPostgresCheckpointStore(const std::string& url);

// Whether `text` names a PostgreSQL database: it starts with postgres:// or postgresql://.
bool IsPostgresUrl(std::string_view text);

}  // namespace evs
