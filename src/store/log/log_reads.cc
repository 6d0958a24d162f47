#include "store/log/log_reads.h"

#include <algorithm>
#include <climits>
#include <vector>

#include "common/system_error.h"
#include "store/log/log_format.h"
#include "store/stream_lifecycle.h"

namespace evs::store::log {
namespace {

// Reads the events of the commit record at `packed` into `out`.
Status ReadCommitEvents(const LogCursor::SegmentSource& segments, const std::string& folder,
                        uint64_t packed, std::string& buffer, std::vector<RecordedEvent>& out) {
  const RecordLocation where = UnpackLocation(packed);
  std::shared_ptr<Segment> segment = segments(where.segment);
  if (!segment) return CorruptLogRecord(folder, where);
  char header[kRecordHeaderBytes];
  if (segment->Read(header, sizeof header, where.offset) != sizeof header) {
    return SystemError("cannot read " + segment->path());
  }
  const RecordHeader h = ParseRecordHeader(header);
  if (h.length > segment->size()) return CorruptLogRecord(folder, where);
  buffer.resize(h.length);
  if (segment->Read(buffer.data(), h.length, where.offset + sizeof header) !=
      static_cast<ssize_t>(h.length)) {
    return SystemError("cannot read " + segment->path());
  }
  if (!DecodeEvents(buffer, 0, SIZE_MAX, out)) return CorruptLogRecord(folder, where);
  return OkStatus();
}

}  // namespace

Error CorruptLogRecord(const std::string& folder, RecordLocation where) {
  return Error::Make(ErrorCode::kCorruption,
                     "the record at offset " + std::to_string(where.offset) + " of " +
                         SegmentPath(folder, where.segment) + " cannot be decoded");
}

Result<StreamPage> ReadLogStreamPage(const LogIndex& index,
                                     const LogCursor::SegmentSource& segments,
                                     const std::string& folder, std::string_view stream_id,
                                     const StreamHead& head, const ReadStreamOptions& options,
                                     int64_t now_us) {
  const int64_t cutoff = AgeCutoffMicros(head, now_us);
  const bool forward = options.direction == Direction::kForward;
  int64_t low = FirstVisibleVersion(head), high = head.version;
  if (forward) low = std::max(low, options.from);
  if (!forward && options.from > 0) high = std::min(high, options.from);
  StreamPage page;
  page.stream_version = head.version;
  if (low <= high && options.limit > 0) {
    // Only the commits a page can reach: with no max_age every version in range is returned,
    // so `limit` versions from the page's start suffice.
    int64_t lo = low, hi = high;
    const auto span = static_cast<int64_t>(options.limit) - 1;
    if (cutoff == INT64_MIN) {
      if (forward) {
        hi = std::min(high, low + span);
      } else {
        lo = std::max(low, high - span);
      }
    }
    auto commits = index.CommitsOf(stream_id, lo, hi);
    if (!forward) std::reverse(commits.begin(), commits.end());
    std::string buffer;
    std::vector<RecordedEvent> events;
    for (const StreamCommit& c : commits) {
      if (page.events.size() >= options.limit) break;
      events.clear();
      if (auto s = ReadCommitEvents(segments, folder, c.packed, buffer, events); !s) {
        return s.error();
      }
      auto take = [&](RecordedEvent& e) {
        if (e.version < low || e.version > high || e.recorded_at_us < cutoff) return;
        if (page.events.size() < options.limit) page.events.push_back(std::move(e));
      };
      if (forward) {
        for (auto& e : events) take(e);
      } else {
        for (auto e = events.rbegin(); e != events.rend(); ++e) take(*e);
      }
    }
  }
  page.end_of_stream =
      page.events.empty() || page.events.size() < options.limit ||
      (forward ? page.events.back().version >= high : page.events.back().version <= low);
  return page;
}

Result<LogPage> ReadLogPage(const LogIndex& index, const LogCursor::SegmentSource& segments,
                            const std::string& folder, int64_t after, size_t limit,
                            int64_t head_position) {
  LogPage page;
  page.head_position = head_position;
  page.next_position = after;
  if (after >= head_position || limit == 0) return page;
  auto mark = index.MarkBefore(after + 1);
  if (!mark) return page;
  page.events.reserve(std::min<size_t>(limit, static_cast<size_t>(head_position - after)));
  LogCursor cursor(segments, mark->second);
  // Bounded: each step moves past a record, and the scan ends at the head position. It never
  // reads past the head: what lies there may be a record being written.
  int64_t next = mark->first;
  while (page.events.size() < limit && next <= head_position) {
    const LogCursor::Step step = cursor.Next();
    if (step == LogCursor::Step::kEnd) break;
    if (step != LogCursor::Step::kRecord) {
      return Error::Make(
          step == LogCursor::Step::kError ? ErrorCode::kIOError : ErrorCode::kCorruption,
          "reading the log: " + cursor.reason());
    }
    auto info = ParseRecordInfo(cursor.header().kind, cursor.payload());
    if (!info) return CorruptLogRecord(folder, cursor.location());
    if (info->kind != RecordKind::kCommit) continue;
    next = info->first_position + info->count;
    if (next - 1 <= after) continue;
    const auto skip = static_cast<size_t>(std::max<int64_t>(0, after + 1 - info->first_position));
    if (!DecodeEvents(cursor.payload(), skip, limit - page.events.size(), page.events)) {
      return CorruptLogRecord(folder, cursor.location());
    }
  }
  if (!page.events.empty()) page.next_position = page.events.back().position;
  return page;
}

StreamsPage ListLogStreams(const LogIndex& index, const StreamHeads& heads, std::string_view after,
                           size_t limit) {
  StreamsPage page;
  const std::vector<std::string> ids = index.StreamsAfter(after, limit);
  for (const std::string& id : ids) {
    // Only what is durable, and not deleted.
    const StreamHead head = heads.Find(id);
    if (!UnreadableStream(id, head)) page.streams.push_back(StreamInfo{id, head.version});
  }
  if (ids.size() == limit && limit > 0) page.next_after = ids.back();
  return page;
}

}  // namespace evs::store::log
