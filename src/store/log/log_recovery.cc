#include "store/log/log_recovery.h"

#include <map>

#include "common/system_error.h"
#include "store/log/log_cursor.h"

namespace evs::store::log {

std::string CheckLogEnd(const LogEnd& start,
                        const std::function<std::shared_ptr<Segment>(uint32_t)>& source) {
  auto end_segment = source(start.end.segment);
  if (!end_segment || start.end.offset < kSegmentHeaderBytes ||
      start.end.offset > end_segment->size()) {
    return "the checkpoint's end is not in the log";
  }
  if (start.last_record.segment == 0) {
    return start.next_position == 1 ? "" : "the checkpoint names no last record";
  }
  auto segment = source(start.last_record.segment);
  char header[kRecordHeaderBytes];
  if (!segment || segment->Read(header, sizeof header, start.last_record.offset) !=
                      static_cast<ssize_t>(sizeof header)) {
    return "the checkpoint's last record is not in the log";
  }
  const RecordHeader h = ParseRecordHeader(header);
  const uint64_t record_end = start.last_record.offset + kRecordHeaderBytes + h.length;
  const bool same_segment = start.last_record.segment == start.end.segment;
  if (h.checksum != start.chain || (same_segment && record_end != start.end.offset) ||
      (!same_segment && start.end.offset != kSegmentHeaderBytes)) {
    return "the log's record at the checkpoint's end is not the one it names";
  }
  return "";
}

Result<RecoveredLog> RecoverLog(FileSystem& fs, const std::string& folder, uint64_t segment_bytes,
                                const LogEnd* start,
                                const std::function<int64_t(std::string_view)>& version_of,
                                const RecordVisitor& visit) {
  RecoveredLog log;
  auto numbers = ListSegments(fs, folder);
  if (!numbers) return numbers.error();
  if (numbers->empty()) {
    if (start) {
      log.start_rejected = "the checkpoint names segments that are not there";
      return log;
    }
    auto first = CreateSegment(fs, folder, 1, segment_bytes);
    if (!first) return first.error();
    log.segments.push_back(std::move(first).value());
    log.end = RecordLocation{1, kSegmentHeaderBytes};
    return log;
  }
  for (size_t i = 0; i < numbers->size(); ++i) {
    const uint32_t want = (*numbers)[0] + static_cast<uint32_t>(i);
    if ((*numbers)[i] != want) {
      return Error::Make(ErrorCode::kCorruption,
                         "segment " + SegmentPath(folder, want) +
                             " is missing from the log store (the segments after it cannot be "
                             "read without it); restore it from a backup");
    }
    auto segment = OpenSegment(fs, folder, want);
    if (!segment) return segment.error();
    log.segments.push_back(std::move(segment).value());
  }
  const uint32_t first_number = numbers->front();
  auto source = [&](uint32_t number) -> std::shared_ptr<Segment> {
    if (number < first_number || number - first_number >= log.segments.size()) return nullptr;
    return log.segments[number - first_number];
  };

  RecordLocation from{first_number, kSegmentHeaderBytes};
  if (start) {
    if (auto why = CheckLogEnd(*start, source); !why.empty()) {
      log.start_rejected = why;
      return log;
    }
    from = start->end;
    log.end = start->end;
    log.last_record = start->last_record;
    log.chain = start->chain;
    log.next_position = start->next_position;
    log.attempt = start->attempt;
    log.last_recorded_us = start->last_recorded_us;
  }
  LogCursor cursor(source, from, 4 << 20);
  bool first_record = start == nullptr;
  // Bounded by the log's size: each step moves past a record or ends the scan.
  for (;;) {
    const LogCursor::Step step = cursor.Next();
    if (step == LogCursor::Step::kError) return Error::Make(ErrorCode::kIOError, cursor.reason());
    if (step == LogCursor::Step::kEnd) break;
    if (step == LogCursor::Step::kBad) {
      log.torn = cursor.reason();
      break;
    }
    const RecordLocation where = cursor.location();
    auto at = [&] {
      return " at offset " + std::to_string(where.offset) + " of " +
             SegmentPath(folder, where.segment);
    };
    // The first record of a version 2 segment starts a chain of its own, and may not come from
    // a batch older than the record before it (log_format.h).
    uint64_t seed = log.chain;
    bool restarts = false;
    if (where.offset == kSegmentHeaderBytes) {
      if (auto segment = source(where.segment); segment && segment->version() >= 2) {
        seed = SegmentSeed(where.segment);
        restarts = true;
      }
    }
    if (!ChecksOut(cursor.header(), cursor.header_bytes(), seed)) {
      log.torn = "the record" + at() + " does not match its checksum";
      break;
    }
    auto info = ParseRecordInfo(cursor.header().kind, cursor.payload());
    if (!info) {
      log.torn = "the record" + at() + " is not a record this release can read";
      break;
    }
    if (restarts && !first_record && info->attempt < log.attempt) {
      log.torn = "the record" + at() + " was written by a batch (" + std::to_string(info->attempt) +
                 ") older than the records before it";
      break;
    }
    // The first record of a log whose oldest segments were removed may start anywhere.
    if (!(first_record && first_number > 1) && info->first_position != log.next_position) {
      log.torn = "the record" + at() + " starts at position " +
                 std::to_string(info->first_position) + ", not at the next one (" +
                 std::to_string(log.next_position) + ")";
      break;
    }
    if (info->kind == RecordKind::kCommit && info->first_version != version_of(info->stream) + 1) {
      log.torn = "the record" + at() + " starts stream '" + std::string(info->stream) +
                 "' at version " + std::to_string(info->first_version) + ", not at the next one";
      break;
    }
    if (auto s = visit(*info, cursor.payload(), where); !s) return s.error();
    first_record = false;
    log.chain = cursor.header().checksum;
    log.next_position = info->first_position + info->count;
    log.attempt = std::max(log.attempt, info->attempt);
    if (info->kind == RecordKind::kCommit) log.last_recorded_us = info->recorded_at_us;
    log.end = cursor.end();
    log.last_record = where;
  }
  if (log.next_position == 1 && log.end.segment == 0) {
    log.end = RecordLocation{first_number, kSegmentHeaderBytes};
  }
  // A scan that stopped at a bad record goes on writing where it stands (maybe at the start of
  // the next segment); one that ended cleanly, where the last record ended.
  if (!log.torn.empty()) log.end = cursor.location();
  if (log.end.segment == 0) log.end = RecordLocation{first_number, kSegmentHeaderBytes};

  // Nothing after the end may be read as the log: zero the rest of its segment, remove the later
  // ones (a preallocated, empty one is made again when it is needed).
  auto& end_segment = log.segments[log.end.segment - first_number];
  if (auto s = end_segment->ZeroFrom(log.end.offset); !s) return s.error();
  bool removed = false;
  while (log.segments.back()->number() > log.end.segment) {
    const std::string path = log.segments.back()->path();
    log.segments.pop_back();
    if (fs.Unlink(path.c_str()) != 0) return SystemError("cannot remove " + path);
    removed = true;
  }
  if (removed) {
    if (int err = SyncFolder(fs, folder); err != 0) {
      return SystemError("fsync of folder " + folder + " failed", err);
    }
  }
  return log;
}

}  // namespace evs::store::log
