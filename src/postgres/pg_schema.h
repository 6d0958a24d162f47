// evs's tables in a PostgreSQL database: created, checked and migrated by version.
#pragma once

#include "evs/status.h"
#include "postgres/pg_connection.h"

namespace evs::pg {

// Brings the database to kPostgresSchemaVersion (evs/postgres.h): creates the tables, or runs the
// migrations from the version it is at, in one transaction under an advisory lock (so that
// processes starting together do it once). Returns the version. kUnsupported when the database
// is at a newer version than this release knows. `target_version` (tests: a database as an
// older release left it) stops at that version; 0 means this release's.
Result<int> MigrateSchema(Connection& connection, int target_version = 0);

// The database's schema version without changing anything: 0 when it has no evs tables.
Result<int> SchemaVersion(Connection& connection);

// Checks that the database is at this release's version: kNotFound ("run evs pg init") when it
// has no evs tables or an older version, kUnsupported when newer.
Status CheckSchema(Connection& connection);

// A connection to `url` whose database is at this release's version: migrated there with
// `create_schema` (MigrateSchema), else checked (CheckSchema).
Result<std::unique_ptr<Connection>> OpenWithSchema(const std::string& url, bool create_schema);

}  // namespace evs::pg
