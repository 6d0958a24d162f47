// Checkpoints, parked events and subscription states in the PostgreSQL store's database
// (evs/postgres.h): what subscriptions of a PostgreSQL store keep, shared by every process.
#include <mutex>

#include "evs/clock.h"
#include "evs/postgres.h"
#include "postgres/pg_connection.h"
#include "postgres/pg_schema.h"

namespace evs {
namespace {

constexpr const char* kPgParkedColumns =
    "SELECT id, subscription, position, stream_id, version, event_id, type, data, metadata, "
    "recorded_at_us, error, attempts::int8, parked_at_us, retry_requested::int::int8 "
    "FROM evs_parked ";

class PostgresCheckpointStore final : public CheckpointStore {
 public:
  PostgresCheckpointStore(std::string url, std::unique_ptr<pg::Connection> connection)
      : connection_(std::move(url), std::move(connection)) {}

  Result<std::optional<std::string>> Load(const std::string& subscription) override {
    auto rows = Exec("SELECT checkpoint FROM evs_checkpoints WHERE subscription = $1::text",
                     pg::Params().Text(subscription));
    if (!rows) return rows.error();
    if (PQntuples(rows->get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(pg::GetText(rows->get(), 0, 0));
  }

  Status Save(const std::string& subscription, const std::string& checkpoint) override {
    auto r = Exec(
        "INSERT INTO evs_checkpoints (subscription, checkpoint, updated_at_us) "
        "VALUES ($1::text, $2::text, $3::int8) ON CONFLICT (subscription) DO UPDATE SET "
        "checkpoint = excluded.checkpoint, updated_at_us = excluded.updated_at_us",
        pg::Params().Text(subscription).Text(checkpoint).Int8(SystemClock()->NowMicros()));
    if (!r) return r.error();
    return OkStatus();
  }

  Status Park(const ParkedEvent& p) override {
    const RecordedEvent& e = p.event;
    auto r = Exec(
        "INSERT INTO evs_parked (subscription, position, stream_id, version, event_id, type, "
        "data, metadata, recorded_at_us, error, attempts, parked_at_us) VALUES ($1::text, "
        "$2::int8, $3::text, $4::int8, $5::uuid, $6::text, $7::bytea, $8::bytea, $9::int8, "
        "$10::text, $11::int8, $12::int8)",
        pg::Params()
            .Text(p.subscription)
            .Int8(e.position)
            .Text(e.stream_id)
            .Int8(e.version)
            .Id(e.id)
            .Text(e.type)
            .Text(e.data)
            .Text(e.metadata)
            .Int8(e.recorded_at_us)
            .Text(p.error)
            .Int8(p.attempts)
            .Int8(p.parked_at_us != 0 ? p.parked_at_us : SystemClock()->NowMicros()));
    if (!r) return r.error();
    return OkStatus();
  }

  Result<std::vector<ParkedEvent>> ListParked(const std::string& subscription, int64_t after_id,
                                              size_t limit) override {
    return Parked(std::string(kPgParkedColumns) +
                      "WHERE ($1::text = '' OR subscription = $1::text) AND id > $2::int8 "
                      "ORDER BY id LIMIT $3::int8",
                  pg::Params().Text(subscription).Int8(after_id).Int8(Limit(limit)));
  }

  Result<int64_t> CountParked(const std::string& subscription) override {
    auto rows =
        Exec("SELECT count(*) FROM evs_parked WHERE $1::text = '' OR subscription = $1::text",
             pg::Params().Text(subscription));
    if (!rows) return rows.error();
    return pg::GetInt8(rows->get(), 0, 0);
  }

  Result<std::vector<ParkedEvent>> RetryRequested(const std::string& subscription,
                                                  size_t limit) override {
    return Parked(std::string(kPgParkedColumns) +
                      "WHERE subscription = $1::text AND retry_requested ORDER BY id "
                      "LIMIT $2::int8",
                  pg::Params().Text(subscription).Int8(Limit(limit)));
  }

  Status RequestRetry(int64_t parked_id) override {
    return ChangeOne("UPDATE evs_parked SET retry_requested = true WHERE id = $1::int8",
                     pg::Params().Int8(parked_id), parked_id);
  }

  Status FinishRetry(int64_t parked_id, const std::optional<std::string>& error) override {
    if (!error) {
      return ChangeOne("DELETE FROM evs_parked WHERE id = $1::int8", pg::Params().Int8(parked_id),
                       parked_id);
    }
    return ChangeOne(
        "UPDATE evs_parked SET error = $2::text, attempts = attempts + 1, "
        "retry_requested = false WHERE id = $1::int8",
        pg::Params().Int8(parked_id).Text(*error), parked_id);
  }

  Status Unpark(int64_t parked_id) override {
    return ChangeOne("DELETE FROM evs_parked WHERE id = $1::int8", pg::Params().Int8(parked_id),
                     parked_id);
  }

  Status SaveState(const std::string& subscription, const std::string& state,
                   const std::string& error) override {
    auto r = Exec(
        "INSERT INTO evs_subscription_states (subscription, state, error, updated_at_us) "
        "VALUES ($1::text, $2::text, $3::text, $4::int8) ON CONFLICT (subscription) DO UPDATE "
        "SET state = excluded.state, error = excluded.error, "
        "updated_at_us = excluded.updated_at_us",
        pg::Params().Text(subscription).Text(state).Text(error).Int8(SystemClock()->NowMicros()));
    if (!r) return r.error();
    return OkStatus();
  }

 private:
  static int64_t Limit(size_t limit) {
    return static_cast<int64_t>(std::min<size_t>(limit, size_t{1} << 24));
  }

  Result<pg::ResultPtr> Exec(std::string_view sql, const pg::Params& params) {
    return connection_.Exec(sql, params);
  }

  Status ChangeOne(std::string_view sql, const pg::Params& params, int64_t parked_id) {
    auto r = Exec(sql, params);
    if (!r) return r.error();
    if (std::string_view(PQcmdTuples(r->get())) == "0") {
      return Error::Make(ErrorCode::kNotFound,
                         "no parked event with id " + std::to_string(parked_id));
    }
    return OkStatus();
  }

  Result<std::vector<ParkedEvent>> Parked(const std::string& sql, const pg::Params& params) {
    auto rows = Exec(sql, params);
    if (!rows) return rows.error();
    std::vector<ParkedEvent> parked;
    const PGresult* r = rows->get();
    for (int row = 0; row < PQntuples(r); ++row) {
      ParkedEvent p;
      p.id = pg::GetInt8(r, row, 0);
      p.subscription = pg::GetText(r, row, 1);
      p.event.position = pg::GetInt8(r, row, 2);
      p.event.stream_id = pg::GetText(r, row, 3);
      p.event.version = pg::GetInt8(r, row, 4);
      p.event.id = pg::GetId(r, row, 5);
      p.event.type = pg::GetText(r, row, 6);
      p.event.data = pg::GetText(r, row, 7);
      p.event.metadata = pg::GetText(r, row, 8);
      p.event.recorded_at_us = pg::GetInt8(r, row, 9);
      p.error = pg::GetText(r, row, 10);
      p.attempts = static_cast<int>(pg::GetInt8(r, row, 11));
      p.parked_at_us = pg::GetInt8(r, row, 12);
      p.retry_requested = pg::GetInt8(r, row, 13) != 0;
      parked.push_back(std::move(p));
    }
    return parked;
  }

  pg::ReopeningConnection connection_;
};

}  // namespace

Result<std::unique_ptr<CheckpointStore>> OpenPostgresCheckpointStore(const std::string& url) {
  auto connection = pg::Connection::Open(url);
  if (!connection) return connection.error();
  if (auto version = pg::MigrateSchema(**connection); !version) return version.error();
  return std::unique_ptr<CheckpointStore>(
      new PostgresCheckpointStore(url, std::move(connection).value()));
}

}  // namespace evs
