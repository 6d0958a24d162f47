// Filtered reads of the global log: the events of some categories or of some types, in log order,
// read in bounded scans so that a long stretch of events that do not match costs a reader many
// cheap requests instead of one unbounded one. Matching looks only at the stream id and the type
// (a prefix test and a comparison); it never parses an event's JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "evs/event.h"
#include "evs/event_store.h"
#include "evs/status.h"

namespace evs::feed {

// A stream's category: the part of its id before the first '-' ("cart-42" -> "cart"); empty when
// the id has no '-' (such a stream is in no category).
std::string_view CategoryOf(std::string_view stream_id);

// Which events of the log a filtered read keeps.
struct LogFilter {
  // Keep the events of streams "<category>-..." for any of these; empty: any stream. A category
  // never holds a '-' (CategoryOf).
  std::vector<std::string> categories;
  // Keep the events of any of these types; empty: any type.
  std::vector<std::string> types;

  // No criterion: every event matches, scavenged markers included (as ReadLog returns them).
  bool empty() const { return categories.empty() && types.empty(); }
  // Whether `event` passes. With a criterion, a scavenged marker (kScavengedEventType) never
  // passes: it stands for an event that reads no longer return.
  bool Matches(const RecordedEvent& event) const;
};

// How much of the log one filtered read may examine before it answers with what it found.
struct ScanBudget {
  size_t max_events = 10000;     // events examined, matching or not
  size_t max_bytes = 16u << 20;  // their stream ids, types, data and metadata, in bytes
  size_t events_per_read = 256;  // the page size of each ReadLog the scan makes
};

// One page of a filtered read.
struct FilteredLogPage {
  std::vector<RecordedEvent> events;  // the matching events, in log order
  // The last position examined (or `after` when none was): pass as `after` to read on. Past the
  // last event returned when the scan went on through events that did not match, so a reader
  // resumes there without examining them again.
  int64_t next_position = 0;
  int64_t head_position = 0;  // the last committed position when the page was read
  size_t examined = 0;        // events examined
};

// Reads the events with position > `after` that `filter` keeps, at most `limit`, examining at
// most `budget`'s events and bytes (always at least one event, so that a read makes progress).
// Stops at the head, at `limit` matches, or when the budget is spent, whichever comes first.
// An empty filter is one ReadLog(after, limit), which the budget does not bound. Errors are
// ReadLog's.
Result<FilteredLogPage> ReadFilteredLog(EventStore& store, int64_t after, size_t limit,
                                        const LogFilter& filter, const ScanBudget& budget = {});

}  // namespace evs::feed
