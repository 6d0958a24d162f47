// The ProjectionRunner with its read model in PostgreSQL (evs/postgres_projection.h): the
// runner core of feed/ over the PostgreSQL read model database, and the checkpoint store its
// subscriptions load the same checkpoints from.
#include <charconv>
#include <mutex>

#include "evs/postgres.h"
#include "evs/postgres_projection.h"
#include "feed/forwarding_checkpoint_store.h"
#include "postgres/pg_connection.h"
#include "postgres/pg_read_model.h"
#include "postgres/pg_read_model_database.h"

namespace evs {
namespace pg {
namespace {

// Checkpoints in evs_projection_checkpoints (the table the runner's batches save them in);
// parked events and states in `parked`.
class PgProjectionCheckpoints final : public feed::ForwardingCheckpointStore {
 public:
  PgProjectionCheckpoints(std::string url, std::unique_ptr<Connection> connection,
                          std::shared_ptr<CheckpointStore> parked)
      : ForwardingCheckpointStore(std::move(parked)),
        connection_(std::move(url), std::move(connection)) {}

  Result<std::optional<std::string>> Load(const std::string& subscription) override {
    auto rows =
        connection_.Exec("SELECT position FROM evs_projection_checkpoints WHERE name = $1::text",
                         Params().Text(subscription));
    if (!rows.ok()) return rows.error();
    if (PQntuples(rows->get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(std::to_string(GetInt8(rows->get(), 0, 0)));
  }

  // Never backwards: a runner in another process may have saved a later checkpoint, and a
  // runner that starts from an earlier one would apply events again.
  Status Save(const std::string& subscription, const std::string& checkpoint) override {
    int64_t position = 0;
    auto [end, ec] =
        std::from_chars(checkpoint.data(), checkpoint.data() + checkpoint.size(), position);
    if (ec != std::errc() || end != checkpoint.data() + checkpoint.size()) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "a projection's checkpoint is a position, not \"" + checkpoint + "\"");
    }
    auto r = connection_.Exec(
        "INSERT INTO evs_projection_checkpoints (name, position, updated_at_us) "
        "VALUES ($1::text, $2::int8, $3::int8) ON CONFLICT (name) DO UPDATE SET "
        "position = GREATEST(evs_projection_checkpoints.position, excluded.position), "
        "updated_at_us = excluded.updated_at_us",
        Params().Text(subscription).Int8(position).Int8(SystemClock()->NowMicros()));
    if (!r.ok()) return r.error();
    return OkStatus();
  }

 private:
  ReopeningConnection connection_;
};

}  // namespace

Result<std::unique_ptr<CheckpointStore>> OpenPgProjectionCheckpoints(
    const std::string& url, std::shared_ptr<CheckpointStore> parked) {
  auto connection = Connection::Open(url);
  if (!connection) return connection.error();
  return std::unique_ptr<CheckpointStore>(
      new PgProjectionCheckpoints(url, std::move(connection).value(), std::move(parked)));
}

}  // namespace pg

Result<std::unique_ptr<ProjectionRunner>> OpenPostgresProjectionRunner(
    EventStore& store, Projection& projection, PostgresProjectionOptions options) {
  // The read model first: it creates the runner's tables that the checkpoints are read from.
  auto db = pg::OpenPgReadModelDatabase(options.url);
  if (!db.ok()) return db.error();
  std::shared_ptr<CheckpointStore> parked = options.parked;
  if (parked == nullptr) {
    auto opened = OpenPostgresCheckpointStore(options.url);
    if (!opened.ok()) return opened.error();
    parked = std::move(opened).value();
  }
  auto checkpoints = pg::OpenPgProjectionCheckpoints(options.url, std::move(parked));
  if (!checkpoints.ok()) return checkpoints.error();
  feed::RunnerOptions o;
  o.batch_size = options.batch_size;
  o.failure = options.failure;
  o.upcaster = std::move(options.upcaster);
  return feed::OpenProjectionRunner(store, projection, std::move(o), std::move(db).value(),
                                    std::move(checkpoints).value());
}

Result<std::unique_ptr<ReadModel>> OpenPostgresReadModel(const std::string& url) {
  auto model = pg::PgReadModel::Open(url, /*reconnect=*/true);
  if (!model.ok()) return model.error();
  return std::unique_ptr<ReadModel>(std::move(model).value());
}

}  // namespace evs
