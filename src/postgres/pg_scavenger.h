// EventStore::Scavenge on PostgreSQL: the embedded store's scavenger (store/sqlite_scavenger.h)
// done in the shared database, beside appends from any number of processes.
#pragma once

#include <string>

#include "evs/clock.h"
#include "evs/event_store.h"
#include "evs/status.h"

namespace evs::pg {

// Turns every event that reads no longer return into a kScavengedEventType marker, in place:
// the row keeps its position, stream id, version, event id and time; type, data and metadata
// become the marker's. A step (`events_per_step` events of one stream) is one transaction that
// locks the stream's evs_streams row (SELECT ... FOR UPDATE, as the writer does for appends,
// so an append to the stream waits for at most one step and no other stream waits at all),
// decides what is hidden from that locked row, updates those rows and records the stream's
// progress (evs_streams.scavenged_through) in the same transaction: a scavenge stopped at any
// moment resumes where it stopped. After each step it sleeps as long as the step took. A row
// updated in place is never absent to a reader (it sees the event or the marker), so the log
// stays dense. Then VACUUM evs_events makes the space reusable by new events (VACUUM FULL with
// `compact`, which blocks reads and appends meanwhile, also gives it back to the file system).
// Sizes are pg_total_relation_size('evs_events'). Runs on a connection of its own to `url`;
// max_age is measured by `clock`.
Result<ScavengeReport> Scavenge(const std::string& url, Clock& clock,
                                const ScavengeOptions& options);

}  // namespace evs::pg
