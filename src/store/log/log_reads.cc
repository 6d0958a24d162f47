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
  LogPageReader reader(index, segments, folder);
  LogPage page;
  if (auto s = reader.Read(after, limit, head_position, page); !s) return s.error();
  return page;
}

namespace {
// The bounds of one read of the log: large enough to amortize the call, small enough not to read
// far past what a page takes.
constexpr size_t kMinReadBytes = 16 * 1024;
constexpr size_t kMaxReadBytes = 1024 * 1024;
// What an event is taken to need before a page has shown it (small events and their framing).
constexpr double kFirstBytesPerEvent = 256;
}  // namespace

LogPageReader::LogPageReader(const LogIndex& index, LogCursor::SegmentSource segments,
                             std::string folder)
    : index_(index),
      folder_(std::move(folder)),
      cursor_(std::move(segments), RecordLocation{}, kMinReadBytes) {}

void LogPageReader::Trim(LogPage& page, size_t used) {
  while (page.events.size() > used) {
    spare_.push_back(std::move(page.events.back()));
    page.events.pop_back();
  }
}

Status LogPageReader::Read(int64_t after, size_t limit, int64_t head_position, LogPage& page) {
  page.head_position = head_position;
  page.next_position = after;
  size_t used = 0;
  if (after >= head_position || limit == 0) {
    Trim(page, 0);
    return OkStatus();
  }
  auto mark = index_.MarkBefore(after + 1);
  if (!mark) {
    Trim(page, 0);
    return OkStatus();
  }
  // Resume at the last record read when it is nearer than the mark (it holds `after` + 1 or
  // comes before it); its bytes are still in the buffer.
  int64_t next = mark->first;
  if (resume_position_ > 0 && resume_position_ <= after + 1 && resume_position_ >= mark->first) {
    next = resume_position_;
    cursor_.Seek(resume_at_, trusted_end_);
  } else {
    cursor_.Seek(mark->second, trusted_end_);
  }
  // Read about what the page needs at once (events of the pages before), within bounds.
  const size_t wanted = std::min<size_t>(limit, static_cast<size_t>(head_position - after));
  const double estimate =
      (bytes_per_event_ > 0 ? bytes_per_event_ : kFirstBytesPerEvent) * static_cast<double>(wanted);
  cursor_.set_chunk_bytes(
      std::clamp(static_cast<size_t>(estimate * 1.1) + 4096, kMinReadBytes, kMaxReadBytes));
  // Events a shorter page left over come back before new ones are made.
  while (page.events.size() < wanted && !spare_.empty()) {
    page.events.push_back(std::move(spare_.back()));
    spare_.pop_back();
  }
  uint64_t bytes = 0;
  // Bounded: each step moves past a record, and the scan ends at the head position. It never
  // reads past the head: what lies there may be a record being written.
  while (used < limit && next <= head_position) {
    const LogCursor::Step step = cursor_.Next();
    if (step == LogCursor::Step::kEnd) break;
    if (step != LogCursor::Step::kRecord) {
      resume_position_ = 0;
      Trim(page, 0);
      return Error::Make(
          step == LogCursor::Step::kError ? ErrorCode::kIOError : ErrorCode::kCorruption,
          "reading the log: " + cursor_.reason());
    }
    auto info = ParseRecordFront(cursor_.header().kind, cursor_.payload());
    if (!info) {
      resume_position_ = 0;
      Trim(page, 0);
      return CorruptLogRecord(folder_, cursor_.location());
    }
    // A record read whole, before the head: durable, so its bytes stay trusted.
    resume_position_ = info->first_position;
    resume_at_ = cursor_.location();
    trusted_end_ = cursor_.end();
    if (info->kind != RecordKind::kCommit) continue;
    next = info->first_position + info->count;
    if (next - 1 <= after) continue;
    const auto skip = static_cast<size_t>(std::max<int64_t>(0, after + 1 - info->first_position));
    const size_t before = used;
    if (!DecodeEventsInto(cursor_.payload(), skip, limit - used, page.events, used)) {
      resume_position_ = 0;
      Trim(page, 0);
      return CorruptLogRecord(folder_, cursor_.location());
    }
    bytes += (kRecordHeaderBytes + cursor_.payload().size()) * (used - before) / info->count;
  }
  Trim(page, used);
  if (used > 0) {
    page.next_position = page.events.back().position;
    bytes_per_event_ = static_cast<double>(bytes) / static_cast<double>(used);
  }
  return OkStatus();
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
