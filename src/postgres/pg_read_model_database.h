// A ProjectionRunner's PostgreSQL database (feed/read_model_database.h), and the checkpoint
// store that the runner's subscriptions read the same checkpoints through.
#pragma once

#include <memory>
#include <string>

#include "evs/subscription.h"
#include "feed/read_model_database.h"

namespace evs::pg {

// The runner's tables, created if absent (outside evs's store schema and its version).
inline constexpr const char* kProjectionTablesSql = R"sql(
CREATE TABLE IF NOT EXISTS evs_projection_checkpoints (
  name text COLLATE "C" PRIMARY KEY,
  position bigint NOT NULL,
  updated_at_us bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS evs_projection_generations (
  name text COLLATE "C" PRIMARY KEY,
  generation bigint NOT NULL
);
)sql";

// Connects to the read model at `url`.
Result<std::unique_ptr<feed::ReadModelDatabase>> OpenPgReadModelDatabase(const std::string& url);

// Loads checkpoints from evs_projection_checkpoints and saves them there never backwards (a
// runner of another process may have saved a later one); every other call goes to `parked`.
// Thread-safe (its own connection, reconnected when lost).
Result<std::unique_ptr<CheckpointStore>> OpenPgProjectionCheckpoints(
    const std::string& url, std::shared_ptr<CheckpointStore> parked);

}  // namespace evs::pg
