// A stream's head and lifecycle as its evs_streams row holds them, read the same way by the
// store's reads, its lifecycle changes and the scavenger.
#pragma once

#include <libpq-fe.h>

#include "store/commit_planner.h"

namespace evs::pg {

// The lifecycle columns of evs_streams, in the order HeadAt reads them.
inline constexpr const char* kHeadColumns =
    "version, deleted_through, hard_deleted::int4::int8, max_count, max_age_seconds, "
    "truncate_before, custom";

// A stream's head from its evs_streams row (kHeadColumns at `first_column` on); the number is
// unused on PostgreSQL.
store::StreamHead HeadAt(const PGresult* result, int row, int first_column);

}  // namespace evs::pg
