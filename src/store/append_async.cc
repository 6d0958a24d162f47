// The default AppendAsync, for backends without a native one (event_store.h).
#include "evs/event_store.h"

namespace evs {

// Waits for the append and calls back on the caller's thread: correct for every backend, and
// the in-memory store's appends do not wait for a disk anyway.
void EventStore::AppendAsync(std::string_view stream_id, ExpectedVersion expected,
                             std::vector<EventData> events, AppendCallback callback) {
  callback(Append(stream_id, expected, std::move(events)));
}

}  // namespace evs
