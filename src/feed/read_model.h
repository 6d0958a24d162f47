// The parts of a read model's database that every way of feeding a projection shares: the
// generation in use (projection_meta) and the views with the tables' plain names.
#pragma once

#include <cstdint>
#include <string>

#include "evs/projection.h"
#include "feed/sqlite_read_model.h"

namespace evs::feed {

// The suffix of a generation's tables: "_g<generation>".
std::string GenerationSuffix(int64_t generation);

// Creates projection_meta if needed, reads the projection's generation (1 when none is recorded),
// creates that generation's tables and points the views at them; `model` writes that generation
// from here on. Not in a transaction of its own.
Result<int64_t> OpenCurrentGeneration(SqliteReadModel& model, Projection& projection);

// Points the projection's views at `generation`'s tables and records it as the one in use.
Status PointViewsAt(store::Database& db, Projection& projection, int64_t generation);

// Records `generation` as the one in use, without touching the views.
Status SaveGeneration(store::Database& db, Projection& projection, int64_t generation);

}  // namespace evs::feed
