// The ProjectionRunner with its read model in PostgreSQL (evs/postgres_projection.h): the
// runner core of feed/ over the PostgreSQL read model database, and the checkpoint store its
// subscriptions load the same checkpoints from.
#include <charconv>
#include <mutex>

#include "evs/postgres.h"
#include "evs/postgres_projection.h"
#include "postgres/pg_connection.h"
#include "postgres/pg_read_model.h"
#include "postgres/pg_read_model_database.h"

namespace evs {
namespace pg {
namespace {

class PgProjectionCheckpoints final : public CheckpointStore {
 public:
  PgProjectionCheckpoints(std::string url, std::unique_ptr<Connection> connection,
                          std::shared_ptr<CheckpointStore> parked)
      : url_(std::move(url)), connection_(std::move(connection)), parked_(std::move(parked)) {}

  Result<std::optional<std::string>> Load(const std::string& subscription) override {
    auto rows = Exec("SELECT position FROM evs_projection_checkpoints WHERE name = $1::text",
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
    auto r = Exec(
        "INSERT INTO evs_projection_checkpoints (name, position, updated_at_us) "
        "VALUES ($1::text, $2::int8, $3::int8) ON CONFLICT (name) DO UPDATE SET "
        "position = GREATEST(evs_projection_checkpoints.position, excluded.position), "
        "updated_at_us = excluded.updated_at_us",
        Params().Text(subscription).Int8(position).Int8(SystemClock()->NowMicros()));
    if (!r.ok()) return r.error();
    return OkStatus();
  }

  Status Park(const ParkedEvent& parked) override { return parked_->Park(parked); }
  Result<std::vector<ParkedEvent>> ListParked(const std::string& subscription, int64_t after_id,
                                              size_t limit) override {
    return parked_->ListParked(subscription, after_id, limit);
  }
  Result<int64_t> CountParked(const std::string& subscription) override {
    return parked_->CountParked(subscription);
  }
  Result<std::vector<ParkedEvent>> RetryRequested(const std::string& subscription,
                                                  size_t limit) override {
    return parked_->RetryRequested(subscription, limit);
  }
  Status RequestRetry(int64_t parked_id) override { return parked_->RequestRetry(parked_id); }
  Status FinishRetry(int64_t parked_id, const std::optional<std::string>& error) override {
    return parked_->FinishRetry(parked_id, error);
  }
  Status Unpark(int64_t parked_id) override { return parked_->Unpark(parked_id); }
  Status SaveState(const std::string& subscription, const std::string& state,
                   const std::string& error) override {
    return parked_->SaveState(subscription, state, error);
  }

 private:
  // One statement; once more on a new connection if the connection was lost.
  Result<ResultPtr> Exec(std::string_view sql, const Params& params) {
    std::lock_guard guard(mu_);
    for (int attempt = 0;; ++attempt) {
      if (connection_ == nullptr || connection_->Broken()) {
        auto connection = Connection::Open(url_);
        if (!connection) return connection.error();
        connection_ = std::move(connection).value();
      }
      auto result = connection_->Exec(sql, params);
      if (result.ok() || !connection_->Broken() || attempt > 0) return result;
    }
  }

  const std::string url_;
  std::mutex mu_;
  std::unique_ptr<Connection> connection_;
  const std::shared_ptr<CheckpointStore> parked_;
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
