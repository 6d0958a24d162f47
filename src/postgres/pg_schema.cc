#include "postgres/pg_schema.h"

#include <algorithm>
#include <string>

#include "evs/postgres.h"

namespace evs::pg {
namespace {

// The key of the advisory lock that migrations hold (any number that other applications are
// unlikely to use: "evs" in ASCII).
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(6649459)";

// Migration n (1-based) takes the schema from version n - 1 to n. Never edit one that shipped:
// add the next.
constexpr const char* kMigrations[] = {
    // 1: streams, events, the log's head; checkpoints, parked events and subscription states
    // (OpenPostgresCheckpointStore).
    R"sql(
CREATE TABLE evs_streams (
  stream_id text COLLATE "C" PRIMARY KEY,
  version bigint NOT NULL
);
CREATE TABLE evs_events (
  position bigint PRIMARY KEY,
  stream_id text COLLATE "C" NOT NULL,
  version bigint NOT NULL,
  event_id uuid NOT NULL UNIQUE,
  type text NOT NULL,
  data bytea NOT NULL,
  metadata bytea NOT NULL,
  recorded_at_us bigint NOT NULL,
  UNIQUE (stream_id, version)
);
CREATE TABLE evs_log_head (
  id integer PRIMARY KEY CHECK (id = 1),
  position bigint NOT NULL,
  recorded_at_us bigint NOT NULL
);
INSERT INTO evs_log_head VALUES (1, 0, 0);
CREATE TABLE evs_checkpoints (
  subscription text COLLATE "C" PRIMARY KEY,
  checkpoint text NOT NULL,
  updated_at_us bigint NOT NULL
);
CREATE TABLE evs_parked (
  id bigserial PRIMARY KEY,
  subscription text COLLATE "C" NOT NULL,
  position bigint NOT NULL,
  stream_id text NOT NULL,
  version bigint NOT NULL,
  event_id uuid NOT NULL,
  type text NOT NULL,
  data bytea NOT NULL,
  metadata bytea NOT NULL,
  recorded_at_us bigint NOT NULL,
  error text NOT NULL,
  attempts integer NOT NULL,
  parked_at_us bigint NOT NULL,
  retry_requested boolean NOT NULL DEFAULT false
);
CREATE INDEX evs_parked_by_retry ON evs_parked (subscription, retry_requested, id);
CREATE TABLE evs_subscription_states (
  subscription text COLLATE "C" PRIMARY KEY,
  state text NOT NULL,
  error text NOT NULL,
  updated_at_us bigint NOT NULL
);
)sql",
    // 2: stream lifecycle on the streams' rows (decided under the row lock that appends take):
    // soft and hard deletes, and the metadata bounds (NULL: not set).
    R"sql(
ALTER TABLE evs_streams
  ADD COLUMN deleted_through bigint NOT NULL DEFAULT 0,
  ADD COLUMN hard_deleted boolean NOT NULL DEFAULT false,
  ADD COLUMN max_count bigint,
  ADD COLUMN max_age_seconds bigint,
  ADD COLUMN truncate_before bigint,
  ADD COLUMN custom text;
)sql",
    // 3: the key store of personal data (OpenPostgresKeyStore): its id and master-key check in
    // one row, each subject's key wrapped by the master key or, once forgotten, a tombstone; and
    // how far Scavenge has turned each stream's hidden prefix into markers.
    R"sql(
CREATE TABLE evs_key_store (
  id integer PRIMARY KEY CHECK (id = 1),
  key_store_id text NOT NULL,
  master_key_check text NOT NULL
);
CREATE TABLE evs_keys (
  subject text COLLATE "C" PRIMARY KEY,
  wrapped_key text,
  created_at_us bigint NOT NULL,
  forgotten_at_us bigint,
  CHECK ((wrapped_key IS NULL) = (forgotten_at_us IS NOT NULL))
);
ALTER TABLE evs_streams ADD COLUMN scavenged_through bigint NOT NULL DEFAULT 0;
)sql",
};
constexpr int kKnownVersion = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));
static_assert(kKnownVersion == kPostgresSchemaVersion);

}  // namespace

Result<int> SchemaVersion(Connection& connection) {
  auto exists = connection.Exec("SELECT to_regclass('evs_schema_version') IS NOT NULL");
  if (!exists) return exists.error();
  if (PQgetvalue(exists->get(), 0, 0)[0] == 0) return 0;
  auto version = connection.Exec("SELECT COALESCE(max(version), 0)::int8 FROM evs_schema_version");
  if (!version) return version.error();
  return static_cast<int>(GetInt8(version->get(), 0, 0));
}

Result<int> MigrateSchema(Connection& connection, int target_version) {
  if (target_version <= 0 || target_version > kKnownVersion) target_version = kKnownVersion;
  if (auto s = connection.ExecScript("BEGIN"); !s) return s.error();
  auto fail = [&](Error error) -> Result<int> {
    (void)connection.ExecScript("ROLLBACK");
    return error;
  };
  if (auto s = connection.ExecScript(kMigrationLock); !s) return fail(s.error());
  if (auto s = connection.ExecScript(
          "CREATE TABLE IF NOT EXISTS evs_schema_version (version integer NOT NULL)");
      !s) {
    return fail(s.error());
  }
  auto version = SchemaVersion(connection);
  if (!version) return fail(version.error());
  if (*version > kKnownVersion) {
    return fail(Error::Make(ErrorCode::kUnsupported,
                            "the database's evs schema is at version " + std::to_string(*version) +
                                ", newer than this release knows (" +
                                std::to_string(kKnownVersion) + "): upgrade evs"));
  }
  for (int v = *version + 1; v <= target_version; ++v) {
    if (auto s = connection.ExecScript(kMigrations[v - 1]); !s) {
      Error error = s.error();
      error.message =
          "migrating the evs schema to version " + std::to_string(v) + ": " + error.message;
      return fail(error);
    }
    if (auto s =
            connection.Exec("INSERT INTO evs_schema_version VALUES ($1::int8)", Params().Int8(v));
        !s) {
      return fail(s.error());
    }
  }
  if (auto s = connection.ExecScript("COMMIT"); !s) return s.error();
  return std::max(*version, target_version);
}

Status CheckSchema(Connection& connection) {
  auto version = SchemaVersion(connection);
  if (!version) return version.error();
  if (*version > kKnownVersion) {
    return Error::Make(ErrorCode::kUnsupported,
                       "the database's evs schema is at version " + std::to_string(*version) +
                           ", newer than this release knows (" + std::to_string(kKnownVersion) +
                           "): upgrade evs");
  }
  if (*version < kKnownVersion) {
    return Error::Make(ErrorCode::kNotFound,
                       *version == 0
                           ? std::string("the database has no evs tables: run `evs pg init`")
                           : "the database's evs schema is at version " + std::to_string(*version) +
                                 ": run `evs pg init` to migrate it");
  }
  return OkStatus();
}

Result<std::unique_ptr<Connection>> OpenWithSchema(const std::string& url, bool create_schema) {
  auto connection = Connection::Open(url);
  if (!connection) return connection.error();
  if (create_schema) {
    if (auto version = MigrateSchema(**connection); !version) return version.error();
  } else if (auto s = CheckSchema(**connection); !s) {
    return s.error();
  }
  return connection;
}

}  // namespace evs::pg
