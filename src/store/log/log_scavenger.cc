#include "store/log/log_scavenger.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "common/system_error.h"
#include "store/log/log_checkpoint.h"
#include "store/log/log_cursor.h"
#include "store/log/log_format.h"
#include "store/scavenge_tally.h"
#include "store/stream_lifecycle.h"

namespace evs::store::log {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Unused preallocated bytes that make a sealed segment worth copying at its used size even
// when it holds nothing hidden.
constexpr uint64_t kUnusedWorthCopying = 64 * 1024;

// What a record of the original segment is, to check its copy against.
struct ScavengedRecord {
  uint64_t old_offset = 0;
  uint64_t new_offset = 0;
  uint8_t kind = 0;
  uint64_t attempt = 0;
  int64_t first_position = 0;
  uint32_t count = 0;
  std::string stream;
  std::vector<CommittedId> ids;
};

// The rewrite of one segment, before it is swapped in.
struct SegmentCopy {
  std::string bytes;  // the whole new file
  std::vector<ScavengedRecord> records;
  std::vector<std::string> streams;  // with commits in the segment
  // Per stream: the last version made a marker, and its time (still hidden at the swap?).
  std::map<std::string, std::pair<int64_t, int64_t>, std::less<>> hidden_through;
  int64_t events = 0;  // made markers
};

class LogScavenger {
 public:
  LogScavenger(const LogScavengeContext& context, const ScavengeOptions& options)
      : c_(context), options_(options) {}

  Result<ScavengeReport> Run() {
    tally_.report.file_bytes_before = c_.segments.FileBytes();
    CountStreams();
    // Every event hidden now is in a sealed segment once this returns.
    auto sealed_below = c_.seal();
    if (!sealed_below) return sealed_below.error();
    now_us_ = c_.clock.NowMicros();
    for (uint32_t n = c_.segments.First(); n != 0 && n + 1 <= *sealed_below; ++n) {
      auto segment = c_.segments.Get(n);
      auto next = c_.segments.Get(n + 1);
      if (!segment || !next) break;
      // A version 1 segment after it chains from this one's last record: this one stays.
      if (next->version() < 2) continue;
      auto copy = Copy(*segment);
      if (!copy) return copy.error();
      if (!*copy) continue;
      if (auto s = Swap(n, **copy); !s) return s.error();
      tally_.Report();
    }
    tally_.report.file_bytes_after = c_.segments.FileBytes();
    tally_.report.file_shrinks = true;
    tally_.progress.streams_done = tally_.progress.streams_total;
    return tally_.Finish();
  }

 private:
  void CountStreams() {
    int64_t examined = 0;
    std::string after;
    for (;;) {
      auto page = c_.index.StreamsAfter(after, 1000);
      for (const std::string& stream : page) {
        const StreamHead head = c_.planner.Heads().Find(stream);
        if (head.deleted_through > 0 || head.hard_deleted || head.metadata) ++examined;
      }
      if (page.size() < 1000) break;
      after = page.back();
    }
    tally_.report.streams_examined = tally_.progress.streams_total = examined;
  }

  // The first version a stream's reads return and the time before which they hide events.
  std::pair<int64_t, int64_t> Bounds(std::string_view stream) const {
    const StreamHead head = c_.planner.Heads().Find(stream);
    const int64_t below = head.hard_deleted ? head.version + 1 : FirstVisibleVersion(head);
    return {below, AgeCutoffMicros(head, now_us_)};
  }

  Error Corrupt(const Segment& segment, uint64_t offset, const std::string& what) const {
    return Error::Make(ErrorCode::kCorruption,
                       "scavenging: the record at offset " + std::to_string(offset) + " of " +
                           segment.path() + " " + what + "; nothing was changed in it");
  }

  // The checksum of the last record of segment `number`, for the first record of a version 1
  // segment after it; nullopt when it is not known (the oldest segment of a log whose oldest
  // segments were removed).
  std::optional<uint64_t> ChainBefore(uint32_t number) const {
    if (number == 1) return 0;
    auto before = c_.segments.Get(number - 1);
    if (!before) return std::nullopt;
    LogCursor cursor([before](uint32_t n) { return n == before->number() ? before : nullptr; },
                     RecordLocation{before->number(), kSegmentHeaderBytes}, 1 << 20);
    std::optional<uint64_t> last;
    while (cursor.Next() == LogCursor::Step::kRecord) last = cursor.header().checksum;
    return last;
  }

  // The version 2 copy of `segment` with its hidden events made markers; nullopt when it holds
  // none.
  Result<std::optional<SegmentCopy>> Copy(const Segment& segment) {
    const uint32_t n = segment.number();
    std::shared_ptr<Segment> held = c_.segments.Get(n);
    LogCursor cursor([held](uint32_t k) { return k == held->number() ? held : nullptr; },
                     RecordLocation{n, kSegmentHeaderBytes}, 1 << 20);
    SegmentCopy copy;
    copy.bytes = SegmentHeader(kFormatVersion);
    uint64_t chain = SegmentSeed(n);
    std::optional<uint64_t> old_chain;
    if (segment.version() >= 2) {
      old_chain = SegmentSeed(n);
    } else {
      old_chain = ChainBefore(n);
    }
    std::vector<RecordedEvent> events;
    std::vector<EventData> rewritten;
    std::map<std::string, std::pair<int64_t, int64_t>, std::less<>> bounds;
    // Bounded by the segment's size: each step moves past a record or ends the scan.
    for (;;) {
      const LogCursor::Step step = cursor.Next();
      if (step == LogCursor::Step::kEnd) break;
      if (step == LogCursor::Step::kError) return Error::Make(ErrorCode::kIOError, cursor.reason());
      const uint64_t at = cursor.location().offset;
      if (step == LogCursor::Step::kBad) return Corrupt(segment, at, cursor.reason());
      if (old_chain && !ChecksOut(cursor.header(), cursor.header_bytes(), *old_chain)) {
        return Corrupt(segment, at, "does not match its checksum");
      }
      old_chain = cursor.header().checksum;
      auto info = ParseRecordInfo(cursor.header().kind, cursor.payload());
      if (!info) return Corrupt(segment, at, "cannot be read");
      ScavengedRecord& r = copy.records.emplace_back();
      r.old_offset = at;
      r.new_offset = copy.bytes.size();
      r.kind = cursor.header().kind;
      r.attempt = info->attempt;
      r.first_position = info->first_position;
      r.count = info->count;
      r.stream.assign(info->stream);
      bool changed = false;
      if (info->kind == RecordKind::kCommit) {
        if (copy.streams.empty() || copy.streams.back() != r.stream)
          copy.streams.push_back(r.stream);
        events.clear();
        if (!DecodeEvents(cursor.payload(), 0, info->count, events) ||
            !DecodeIds(cursor.payload(), r.ids)) {
          return Corrupt(segment, at, "cannot be decoded");
        }
        auto b = bounds.find(info->stream);
        if (b == bounds.end()) b = bounds.emplace(r.stream, Bounds(info->stream)).first;
        const auto [below, cutoff] = b->second;
        rewritten.clear();
        for (const RecordedEvent& e : events) {
          EventData& d = rewritten.emplace_back();
          d.id = e.id;
          if (!IsScavenged(e) && (e.version < below || e.recorded_at_us < cutoff)) {
            d.type = std::string(kScavengedEventType);
            d.data = d.metadata = "{}";
            changed = true;
            ++copy.events;
            auto& through = copy.hidden_through[r.stream];
            if (e.version > through.first) through = {e.version, e.recorded_at_us};
          } else {
            d.type = e.type;
            d.data = e.data;
            d.metadata = e.metadata;
          }
        }
        if (changed) {
          AppendCommitRecord(copy.bytes, chain, info->attempt, info->first_position,
                             info->first_version, info->recorded_at_us, info->stream, rewritten);
        }
      }
      if (!changed) {
        const size_t start = copy.bytes.size();
        copy.bytes.append(cursor.header_bytes(), kRecordHeaderBytes + cursor.header().length);
        ResealRecord(copy.bytes.data() + start, chain);
      }
    }
    // A segment with nothing hidden is copied only to give back the preallocated space that
    // sealing it left unused (the segment Run() sealed, when it was far from full).
    const uint64_t unused = segment.size() - std::min<uint64_t>(segment.size(), copy.bytes.size());
    if (copy.events == 0 && unused < std::max<uint64_t>(kUnusedWorthCopying, segment.size() / 8)) {
      return std::optional<SegmentCopy>();
    }
    std::sort(copy.streams.begin(), copy.streams.end());
    copy.streams.erase(std::unique(copy.streams.begin(), copy.streams.end()), copy.streams.end());
    return std::optional<SegmentCopy>(std::move(copy));
  }

  // Scans the written copy back: every record checks out, where the copy says, and is the
  // original's (kind, batch, positions, stream, ids).
  Status Verify(const std::shared_ptr<Segment>& temp, const SegmentCopy& copy) const {
    LogCursor cursor([temp](uint32_t k) { return k == temp->number() ? temp : nullptr; },
                     RecordLocation{temp->number(), kSegmentHeaderBytes}, 1 << 20);
    uint64_t chain = SegmentSeed(temp->number());
    size_t i = 0;
    std::vector<CommittedId> ids;
    for (;; ++i) {
      const LogCursor::Step step = cursor.Next();
      if (step == LogCursor::Step::kEnd) break;
      const uint64_t at = cursor.location().offset;
      if (step != LogCursor::Step::kRecord || i >= copy.records.size() ||
          !ChecksOut(cursor.header(), cursor.header_bytes(), chain)) {
        return Corrupt(*temp, at, "of the copy does not check out");
      }
      chain = cursor.header().checksum;
      const ScavengedRecord& r = copy.records[i];
      auto info = ParseRecordInfo(cursor.header().kind, cursor.payload());
      ids.clear();
      if (!info || at != r.new_offset || cursor.header().kind != r.kind ||
          info->attempt != r.attempt || info->first_position != r.first_position ||
          info->count != r.count || info->stream != r.stream ||
          (info->kind == RecordKind::kCommit &&
           (!DecodeIds(cursor.payload(), ids) || ids.size() != r.ids.size() ||
            !std::equal(ids.begin(), ids.end(), r.ids.begin(), [](const auto& a, const auto& b) {
              return a.id == b.id && a.position == b.position;
            })))) {
        return Corrupt(*temp, at, "of the copy is not the original's");
      }
    }
    if (i != copy.records.size()) return Corrupt(*temp, 0, "of the copy: records are missing");
    return OkStatus();
  }

  // Writes, checks and swaps in the copy of segment `n`.
  Status Swap(uint32_t n, const SegmentCopy& copy) {
    const std::string path = SegmentPath(c_.folder, n);
    const std::string temp_path = path + ".scavenge";
    {
      const int fd = c_.fs.Open(temp_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) return SystemError("cannot create " + temp_path);
      auto temp = std::make_shared<Segment>(c_.fs, n, fd, temp_path, copy.bytes.size(), 2);
      Status written = OkStatus();
      if (int err = PwriteFully(c_.fs, fd, copy.bytes.data(), copy.bytes.size(), 0); err != 0) {
        written = SystemError("cannot write " + temp_path, err);
      } else if (c_.fs.Fsync(fd) != 0) {
        written = SystemError("fsync of " + temp_path + " failed");
      } else {
        written = Verify(temp, copy);
      }
      if (!written) {
        temp.reset();
        c_.fs.Unlink(temp_path.c_str());
        return written;
      }
    }
    // The checkpoint names the records' old offsets: gone (durably) before any segment changes.
    if (!index_removed_) {
      const std::string index = LogCheckpointPath(c_.folder);
      struct stat st;
      if (c_.fs.Stat(index.c_str(), &st) == 0) {
        if (c_.fs.Unlink(index.c_str()) != 0) {
          Error e = SystemError("cannot remove " + index);
          c_.fs.Unlink(temp_path.c_str());
          return e;
        }
        if (int err = SyncFolder(c_.fs, c_.folder); err != 0) {
          c_.fs.Unlink(temp_path.c_str());
          return SystemError("fsync of folder " + c_.folder + " failed", err);
        }
      }
      index_removed_ = true;
    }
    std::vector<std::pair<uint64_t, uint64_t>> moved;
    moved.reserve(copy.records.size());
    for (const ScavengedRecord& r : copy.records) moved.emplace_back(r.old_offset, r.new_offset);
    const auto step_started = SteadyClock::now();
    Status swapped = OkStatus();
    bool still_hidden = true;
    {
      std::unique_lock lock(c_.locations);
      // A lifecycle change since the copy was made may have shown an event again: then this
      // segment waits for the next scavenge.
      for (const auto& [stream, through] : copy.hidden_through) {
        const auto [below, cutoff] = Bounds(stream);
        if (!(through.first < below || through.second < cutoff)) still_hidden = false;
      }
      if (still_hidden) {
        if (c_.fs.Rename(temp_path.c_str(), path.c_str()) != 0) {
          swapped = SystemError("cannot rename " + temp_path + " to " + path);
          c_.fs.Unlink(temp_path.c_str());
        } else {
          // The file at `path` is the copy from here on, whatever happens next: the store reads
          // it, and the index is moved to it.
          int folder_err = SyncFolder(c_.fs, c_.folder);
          auto opened = OpenSegment(c_.fs, c_.folder, n);
          if (!opened) {
            // The old file stays open for reads until the store is reopened; the index still
            // names its offsets, and the rewritten file is what the next open reads (scanning
            // it: no checkpoint is written).
            c_.index_stale = true;
            swapped = opened.error();
          } else {
            c_.segments.Replace(std::move(opened).value());
            c_.index.Relocate(n, moved, copy.streams);
          }
          if (swapped.ok() && folder_err != 0) {
            swapped = SystemError("fsync of folder " + c_.folder + " failed", folder_err);
          }
        }
      }
    }
    const double ms =
        std::chrono::duration<double, std::milli>(SteadyClock::now() - step_started).count();
    tally_.report.longest_step_ms = std::max(tally_.report.longest_step_ms, ms);
    if (!still_hidden) {
      c_.fs.Unlink(temp_path.c_str());
      return OkStatus();
    }
    if (!swapped) return swapped;
    tally_.report.events_scavenged += copy.events;
    return OkStatus();
  }

  const LogScavengeContext& c_;
  const ScavengeOptions& options_;
  store::ScavengeTally tally_{options_};
  int64_t now_us_ = 0;
  bool index_removed_ = false;
};

}  // namespace

Result<ScavengeReport> ScavengeLog(const LogScavengeContext& context,
                                   const ScavengeOptions& options) {
  return LogScavenger(context, options).Run();
}

}  // namespace evs::store::log
