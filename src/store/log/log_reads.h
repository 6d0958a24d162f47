// Reads of a log store, shared by the owner (log_event_store.cc) and the read-only view of
// other processes (log_reader_store.cc): both bound every read by a durable head, so that the
// records read are whole and never taken back.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

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

// A page of stream ids after `after`, with their durable versions; deleted ones are left out.
StreamsPage ListLogStreams(const LogIndex& index, const StreamHeads& heads, std::string_view after,
                           size_t limit);

// kCorruption naming a record that cannot be decoded.
Error CorruptLogRecord(const std::string& folder, RecordLocation where);

}  // namespace evs::store::log
