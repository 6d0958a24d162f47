#include "feed/log_filter.h"

#include <algorithm>

namespace evs::feed {

std::string_view CategoryOf(std::string_view stream_id) {
  const size_t dash = stream_id.find('-');
  return dash == std::string_view::npos ? std::string_view() : stream_id.substr(0, dash);
}

bool LogFilter::Matches(const RecordedEvent& event) const {
  if (empty()) return true;
  if (event.type == kScavengedEventType) return false;
  if (!categories.empty()) {
    // A prefix test: "<category>-" starts the id exactly when CategoryOf(id) is the category,
    // since a category holds no '-'.
    const std::string_view category = CategoryOf(event.stream_id);
    if (std::find(categories.begin(), categories.end(), category) == categories.end()) {
      return false;
    }
  }
  return types.empty() || std::find(types.begin(), types.end(), event.type) != types.end();
}

Result<FilteredLogPage> ReadFilteredLog(EventStore& store, int64_t after, size_t limit,
                                        const LogFilter& filter, const ScanBudget& budget) {
  FilteredLogPage page;
  if (filter.empty()) {  // every event is returned: no scan to bound
    auto log = store.ReadLog(after, limit);
    if (!log.ok()) return log.error();
    page.examined = log->events.size();
    page.events = std::move(log->events);
    page.next_position = log->next_position;
    page.head_position = log->head_position;
    return page;
  }
  page.next_position = after;
  const size_t max_events = std::max<size_t>(budget.max_events, 1);
  const size_t per_read = std::max<size_t>(budget.events_per_read, 1);
  size_t bytes = 0;
  bool at_head = false;
  // At least one read, so that the page always carries the head.
  do {
    const size_t want = std::min(per_read, max_events - page.examined);
    auto log = store.ReadLog(page.next_position, want);
    if (!log.ok()) return log.error();
    page.head_position = log->head_position;
    at_head = log->events.size() < want;
    for (RecordedEvent& e : log->events) {
      // The rest of this read is read again by the next page: at most one read's worth.
      if (page.events.size() >= limit || bytes >= budget.max_bytes) break;
      ++page.examined;
      bytes += e.stream_id.size() + e.type.size() + e.data.size() + e.metadata.size();
      page.next_position = e.position;
      if (filter.Matches(e)) page.events.push_back(std::move(e));
    }
  } while (!at_head && page.events.size() < limit && page.examined < max_events &&
           bytes < budget.max_bytes);
  return page;
}

}  // namespace evs::feed
