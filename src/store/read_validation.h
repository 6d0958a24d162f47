// Checks the arguments of a read before a backend uses them, so that a library caller's
// negative position or oversized limit is a clear kInvalidArgument, not a cast that turns
// SIZE_MAX into SQLite's "no limit" or a negative position into "from the start".
#pragma once

#include <cstddef>
#include <cstdint>

#include "evs/event_store.h"

namespace evs::store {

// The most events (or streams) one read may ask for: a page, not the whole store.
inline constexpr size_t kMaxReadLimit = size_t{1} << 24;

Status ValidateReadLog(int64_t after, size_t limit);
Status ValidateReadStream(const ReadStreamOptions& options);
Status ValidateListStreams(size_t limit);

}  // namespace evs::store
