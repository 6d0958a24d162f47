// Projections whose read model is a PostgreSQL database (part of evs::postgres): the same
// ProjectionRunner as on SQLite (projection.h) — each batch of events applied and the
// projection's checkpoint saved in one transaction, generations of tables behind views, Rebuild
// and RebuildFrom, the failure policy — with the read model in PostgreSQL, where every server
// of a store can query it.
//
// Projections write the same portable SQL as on SQLite, through ReadModel (read_model.h): ? and
// ?N parameters (PostgreSQL's $N are made of them, outside string literals, quoted identifiers
// and comments), statements kept prepared by their SQL text. Write SQL both databases take:
// INSERT ... ON CONFLICT (...) DO UPDATE rather than INSERT OR REPLACE, BIGINT for values
// beyond 32 bits (PostgreSQL's INTEGER has 32). Values travel as text and PostgreSQL infers
// each parameter's type from its use; where nothing tells it (`? IS NULL`, `SELECT ?`), say it
// with CAST(? AS TEXT) or CAST(? AS BIGINT), which SQLite takes too. Columns
// read back as SqlValue by their type: integers and booleans as int64, float4/float8 as double,
// numeric as int64 when whole (SUM of integers), else double; bytea as its bytes; the rest text.
//
// Tables the runner keeps in the read model's database (created if absent, beside the
// projection's own; the store's schema and its version are not touched):
//   evs_projection_checkpoints (name, position, updated_at_us)   each generation's checkpoint
//   evs_projection_generations (name, generation)                the generation the views show
//
// Several processes may run the same projection on one read model (several `evs serve` hosts on
// one database): each batch locks the projection's checkpoint row (SELECT ... FOR UPDATE) before
// it applies anything and skips the events at or below the checkpoint it finds, so every event
// is applied once whichever runner gets it first. Rebuild on one host only: the runners of other
// processes then skip their batches (the generation they write was dropped) until restarted,
// when they open the new one. A parked event's retry is applied by every runner that sees the
// request, so ask for retries while one runner runs.
#pragma once

#include <memory>
#include <string>

#include "evs/event_store.h"
#include "evs/projection.h"
#include "evs/read_model.h"
#include "evs/status.h"
#include "evs/subscription.h"

namespace evs {

// How OpenPostgresProjectionRunner keeps a projection's read model. Only `url` must be set.
struct PostgresProjectionOptions {
  // The read model's database: a libpq connection string (`postgres://USER@HOST:PORT/DB` or
  // key=value pairs). It may be the store's database or another one.
  std::string url;
  size_t batch_size = 512;  // events per transaction
  FailurePolicy failure;    // for a batch that fails: retries, then park or stop (subscription.h)
  // Upcasts events before Apply() sees them (upcasting.h). Null: Apply() sees events as stored.
  std::shared_ptr<const Upcaster> upcaster = nullptr;
  // Where parked events and the subscription's reported state go. Null: evs's tables in the
  // read model's database, as OpenPostgresCheckpointStore(url) keeps them (created there, or
  // migrated, like InitPostgresSchema does) — with the store's database as the read model,
  // `evs parked` and `evs subscriptions` see them.
  std::shared_ptr<CheckpointStore> parked = nullptr;
};

// Opens the read model (creating the runner's tables and the projection's first generation when
// absent) and returns a runner that is not started yet (ProjectionRunner::Start). kInvalidArgument
// for a malformed url, kUnavailable when the server cannot be reached, or the projection's
// CreateTables error. Two connections to the read model: one for the batches, one for the
// subscriptions' checkpoints (plus what `parked` uses).
Result<std::unique_ptr<ProjectionRunner>> OpenPostgresProjectionRunner(
    EventStore& store, Projection& projection, PostgresProjectionOptions options);

// The read model's database for queries (reports, tests), with the statements and values of
// ReadModel: each statement runs on its own (autocommit; not for BEGIN ... COMMIT), Suffix() is
// empty (query the views), Changes() counts the last Execute's rows. One connection, connected
// again when lost (a statement that lost it runs once more); not thread-safe.
Result<std::unique_ptr<ReadModel>> OpenPostgresReadModel(const std::string& url);

}  // namespace evs
