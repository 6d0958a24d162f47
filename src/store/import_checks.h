// The checks every bulk importer makes on each event it is handed (an archive can be damaged or
// made by hand): what the store checks on append, and that positions, versions and times follow
// on as a store would have written them.
#pragma once

#include <cstdint>

#include "evs/event.h"
#include "evs/status.h"

namespace evs::store {

// Checks `e`, the event after `last_position` (0: the first of the import), recorded no earlier
// than `last_recorded_at_us`, whose stream's next version is `next_version`. kInvalidArgument
// naming the event and what is wrong.
Status CheckImportedEvent(const RecordedEvent& e, int64_t last_position,
                          int64_t last_recorded_at_us, int64_t next_version);

}  // namespace evs::store
