// Verification of a store and its archive: what `evs verify` runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "evs/archive.h"
#include "evs/event_store.h"
#include "evs/object_store.h"
#include "evs/status.h"

namespace evs {

// How much Verify lists, and how it reports progress.
struct VerifyOptions {
  // Problems listed in full; past this many only counted.
  size_t max_listed_problems = 100;
  ArchiveProgressFn progress;  // called now and then (may be empty)
};

// What Verify found.
struct VerifyReport {
  int64_t store_events = 0;      // events read from the store
  int64_t store_streams = 0;     // streams seen in the store's log
  int64_t archive_segments = 0;  // segments checked
  int64_t archive_events = 0;    // events in them
  int64_t compared_events = 0;   // events held by both and compared field by field
  // Of those, events scavenged in the store after they were archived: the store's marker and the
  // archived event agree in stream, version, id and time, and the archive keeps the event.
  int64_t scavenged_in_store = 0;
  // The archive is a checkpointed feed's (CheckpointedArchiver: e.g. of a Kinesis consumer): it
  // is numbered on its own, so it was checked on its own, not against the store.
  bool feed_archive = false;
  int64_t problem_count = 0;          // every problem found...
  std::vector<std::string> problems;  // ...and the first max_listed_problems of them
  // True when no problem was found.
  bool ok() const { return problem_count == 0; }
};

// Checks, for what is given (either may be null):
//  - the store: positions dense from 1 to the head; each stream's versions dense from 1;
//  - the archive: segment keys form one run from position 1; every segment's checksum, format,
//    header and trailer; positions dense inside and across segments;
//  - both: every event held by both is the same in every field (a scavenged event's marker in
//    the store matches the archived event by stream, version, id and time);
//  - an archive of a checkpointed feed (no global positions): instead of the comparison, that
//    each stream's versions run densely from 1 in it (every event once, in order).
// Problems found are in the report; an error result means verification itself could not run
// (the store or the archive could not be read).
Result<VerifyReport> Verify(EventStore* store, ObjectStore* archive,
                            const VerifyOptions& options = {});

}  // namespace evs
