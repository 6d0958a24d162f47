// Subjects' keys in the PostgreSQL database, wrapped by the operator's master key
// (evs/postgres_key_store.h).
#include <utility>

#include "evs/clock.h"
#include "evs/postgres.h"
#include "evs/postgres_key_store.h"
#include "evs/uuid.h"
#include "personal/aead.h"
#include "personal/key_wrap.h"
#include "personal/wrapped_key_store.h"
#include "postgres/pg_connection.h"
#include "postgres/pg_schema.h"

namespace evs {
namespace {

// What the master key check seals: an empty text, the key store's id authenticated (as the
// DynamoDB key store does).
std::string CheckAad(const std::string& id) { return "evs-master-check|" + id; }

class PostgresKeyStore final : public personal::WrappedKeyStore {
 public:
  PostgresKeyStore(std::string url, std::unique_ptr<pg::Connection> connection,
                   std::string master_key, std::string id, std::string name)
      : WrappedKeyStore(std::move(master_key), std::move(id)),
        connection_(std::move(url), std::move(connection)),
        name_(std::move(name)) {}

  std::string name() const override { return name_; }

 private:
  Result<Stored> Read(const std::string& subject) override {
    auto rows = Exec("SELECT wrapped_key FROM evs_keys WHERE subject = $1::text",
                     pg::Params().Text(subject), "read the key of subject '" + subject + "'");
    if (!rows.ok()) return rows.error();
    Stored stored;
    if (PQntuples(rows->get()) == 0) return stored;
    if (pg::IsNull(rows->get(), 0, 0)) {
      stored.kind = Stored::Kind::kTombstone;
      return stored;
    }
    stored.kind = Stored::Kind::kWrapped;
    stored.wrapped = pg::GetText(rows->get(), 0, 0);
    return stored;
  }

  // A process that loses the race waits for the winner's commit, then inserts nothing.
  Result<bool> InsertIfAbsent(const std::string& subject, const std::string& wrapped) override {
    auto inserted = Exec(
        "INSERT INTO evs_keys (subject, wrapped_key, created_at_us) "
        "VALUES ($1::text, $2::text, $3::int8) ON CONFLICT (subject) DO NOTHING",
        pg::Params().Text(subject).Text(wrapped).Int8(SystemClock()->NowMicros()),
        "store the key of subject '" + subject + "'");
    if (!inserted.ok()) return inserted.error();
    return std::string_view(PQcmdTuples(inserted->get())) == "1";
  }

  Result<bool> TombstoneIfWrapped(const std::string& subject) override {
    auto forgot = Exec(
        "UPDATE evs_keys SET wrapped_key = NULL, forgotten_at_us = $2::int8 "
        "WHERE subject = $1::text AND wrapped_key IS NOT NULL",
        pg::Params().Text(subject).Int8(SystemClock()->NowMicros()),
        "forget subject '" + subject + "'");
    if (!forgot.ok()) return forgot.error();
    return std::string_view(PQcmdTuples(forgot->get())) == "1";
  }

  // One statement (committed on its own); once more on a new connection if it was lost. Every
  // statement here may run twice: the insert does nothing the second time, and a forget whose
  // first run committed finds the tombstone.
  Result<pg::ResultPtr> Exec(std::string_view sql, const pg::Params& params,
                             const std::string& context) {
    auto result = connection_.Exec(sql, params);
    if (!result.ok()) {
      Error error = std::move(result.error());
      error.message = context + ": " + error.message;
      return error;
    }
    return result;
  }

  pg::ReopeningConnection connection_;
  const std::string name_;
};

// The key store's id from the evs_key_store row, made when missing (and allowed): the first
// process's row wins. The master key must open the row's check.
Result<std::string> ReadOrMakeMeta(pg::Connection& c, const PostgresKeyStoreOptions& options,
                                   const std::string& name) {
  if (options.create_if_missing) {
    const std::string id = Uuid::Random().ToString();
    auto check = personal::WrapKey(options.master_key, CheckAad(id), "");
    if (!check.ok()) return check.error();
    auto made = c.Exec(
        "INSERT INTO evs_key_store (id, key_store_id, master_key_check) "
        "VALUES (1, $1::text, $2::text) ON CONFLICT (id) DO NOTHING",
        pg::Params().Text(id).Text(*check));
    if (!made.ok()) return made.error();
  }
  auto rows = c.Exec("SELECT key_store_id, master_key_check FROM evs_key_store WHERE id = 1");
  if (!rows.ok()) return rows.error();
  if (PQntuples(rows->get()) == 0) {
    return Error::Make(ErrorCode::kNotFound, name + " holds no key store (evs_key_store is empty)");
  }
  std::string id = pg::GetText(rows->get(), 0, 0);
  if (!personal::UnwrapKey(options.master_key, CheckAad(id), pg::GetText(rows->get(), 0, 1)).ok()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the master key is not the one " + name + " was made with");
  }
  return id;
}

}  // namespace

Result<std::unique_ptr<KeyStore>> OpenPostgresKeyStore(const PostgresKeyStoreOptions& options) {
  if (options.url.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "no PostgreSQL url: set postgres://USER@HOST:PORT/DB");
  }
  if (options.master_key.size() != personal::kKeyBytes) {
    return Error::Make(ErrorCode::kInvalidArgument, "the master key must be 32 bytes");
  }
  auto connection = pg::OpenWithSchema(options.url, options.create_schema);
  if (!connection) return connection.error();
  // For messages: the database's name, never the url (it may hold a password).
  const std::string name = "the key table evs_keys of PostgreSQL database '" +
                           std::string(PQdb((*connection)->raw())) + "'";
  auto id = ReadOrMakeMeta(**connection, options, name);
  if (!id.ok()) return id.error();
  return std::unique_ptr<KeyStore>(std::make_unique<PostgresKeyStore>(
      options.url, std::move(connection).value(), options.master_key, std::move(id).value(), name));
}

}  // namespace evs
