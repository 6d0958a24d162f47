// Reads of a log store, shared by the owner (log_event_store.cc) and the read-only view of
// other processes (log_reader_store.cc): both bound every read by a durable head, so that the
// records read are whole and never taken back.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "evs/event_store.h"
#include "store/commit_planner.h"
#include "store/log/log_cursor.h"
#include "store/log/log_index.h"
#include "store/log/segment.h"

namespace evs::store::log {

// A page of `stream_id`, whose durable head is `head` (readable: the caller checked), as of
// `now_us` (for max_age).
Result<StreamPage> ReadLogStreamPage(const LogIndex& index,
                                     const LogCursor::SegmentSource& segments,
                                     const std::string& folder, std::string_view stream_id,
                                     const StreamHead& head, const ReadStreamOptions& options,
                                     int64_t now_us);

// A page of the global log after `after`, up to the durable `head_position`.
Result<LogPage> ReadLogPage(const LogIndex& index, const LogCursor::SegmentSource& segments,
                            const std::string& folder, int64_t after, size_t limit,
                            int64_t head_position);

// Reads the global log page after page for one thread (EventStore::NewLogReader): one cursor and
// its buffer for every page, resumed where the page before ended when the next read continues
// it, and the page's events decoded into the ones the caller's page already holds. Only the
// bytes of records it has read (durable ones) are kept between pages.
class LogPageReader {
 public:
  LogPageReader(const LogIndex& index, LogCursor::SegmentSource segments, std::string folder);

  // As ReadLogPage, into `page`.
  Status Read(int64_t after, size_t limit, int64_t head_position, LogPage& page);

 private:
  // Moves page.events[used..] aside (kept for later pages) and page.events to `used` events.
  void Trim(LogPage& page, size_t used);

  const LogIndex& index_;
  const std::string folder_;
  LogCursor cursor_;
  // The last record the page before read: where the next page may resume (0: none).
  int64_t resume_position_ = 0;
  RecordLocation resume_at_;
  RecordLocation trusted_end_;        // the end of that record: the bytes before it are durable
  double bytes_per_event_ = 0;        // of the pages read so far, to size the next read
  std::vector<RecordedEvent> spare_;  // events (with their strings) a shorter page left over
};

// A page of stream ids after `after`, with their durable versions; deleted ones are left out.
StreamsPage ListLogStreams(const LogIndex& index, const StreamHeads& heads, std::string_view after,
                           size_t limit);

// kCorruption naming a record that cannot be decoded.
Error CorruptLogRecord(const std::string& folder, RecordLocation where);

}  // namespace evs::store::log
