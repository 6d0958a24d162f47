// Verify: one pass over the store's log and the archive's segments side by side, collecting
// every problem instead of stopping at the first.
#include "evs/verify.h"

#include <algorithm>
#include <optional>
#include <unordered_map>

#include "archive/segment_format.h"
#include "archive/segment_listing.h"

namespace evs {
namespace {

constexpr size_t kPageSize = 4096;

class Problems {
 public:
  Problems(VerifyReport& report, size_t max_listed) : report_(report), max_listed_(max_listed) {}
  void Add(std::string problem) {
    ++report_.problem_count;
    if (report_.problems.size() < max_listed_) report_.problems.push_back(std::move(problem));
  }

 private:
  VerifyReport& report_;
  const size_t max_listed_;
};

// Reads the store's log in order up to the head it saw first, checking dense positions and
// dense versions per stream as it goes.
class StoreCursor {
 public:
  StoreCursor(EventStore& store, int64_t head, Problems& problems, VerifyReport& report)
      : store_(store), head_(head), problems_(problems), report_(report) {}

  // The next event at or after `position` (skipping, and checking, those before it); nullptr at
  // the head.
  Result<const RecordedEvent*> SeekTo(int64_t position) {
    for (;;) {
      if (index_ == page_.size()) {
        if (after_ >= head_) return nullptr;
        auto page = store_.ReadLog(after_, kPageSize);
        if (!page.ok()) return page.error();
        if (page->events.empty()) {
          problems_.Add("store: the log ends at position " + std::to_string(after_) +
                        " but its head is " + std::to_string(head_));
          after_ = head_;
          return nullptr;
        }
        page_ = std::move(page->events);
        index_ = 0;
      }
      const RecordedEvent& event = page_[index_];
      if (event.position > head_) {
        after_ = head_;
        page_.clear();
        index_ = 0;
        return nullptr;
      }
      if (!checked_current_) Check(event);
      if (event.position >= position) return &event;
      ++index_;
      checked_current_ = false;
    }
  }

 private:
  void Check(const RecordedEvent& event) {
    checked_current_ = true;
    ++report_.store_events;
    if (event.position != after_ + 1) {
      problems_.Add("store: position " + std::to_string(event.position) + " follows " +
                    std::to_string(after_) + " (positions must be dense)");
    }
    after_ = event.position;
    auto [it, inserted] = versions_.try_emplace(event.stream_id, 0);
    if (inserted) ++report_.store_streams;
    if (event.version != it->second + 1) {
      problems_.Add("store: stream '" + event.stream_id + "' has version " +
                    std::to_string(event.version) + " after " + std::to_string(it->second) +
                    " (at position " + std::to_string(event.position) + ")");
    }
    it->second = event.version;
  }

  EventStore& store_;
  const int64_t head_;
  Problems& problems_;
  VerifyReport& report_;
  std::vector<RecordedEvent> page_;
  size_t index_ = 0;
  bool checked_current_ = false;
  int64_t after_ = 0;
  std::unordered_map<std::string, int64_t> versions_;
};

std::string Differences(const archive::EventView& a, const RecordedEvent& s) {
  std::string fields;
  auto note = [&](bool differ, const char* name) {
    if (!differ) return;
    if (!fields.empty()) fields += ", ";
    fields += name;
  };
  note(a.stream_id != s.stream_id, "stream_id");
  note(a.version != s.version, "version");
  note(a.id != s.id, "id");
  note(a.recorded_at_us != s.recorded_at_us, "recorded_at_us");
  // Scavenged in the store after it was archived: the marker keeps the event's identity, and
  // the archive keeps the event.
  if (s.type == kScavengedEventType && a.type != kScavengedEventType) return fields;
  note(a.type != s.type, "type");
  note(a.data != s.data, "data");
  note(a.metadata != s.metadata, "metadata");
  return fields;
}

}  // namespace

Result<VerifyReport> Verify(EventStore* store, ObjectStore* archive, const VerifyOptions& options) {
  VerifyReport report;
  Problems problems(report, options.max_listed_problems);
  int64_t head = 0;
  if (store) {
    auto h = store->HeadPosition();
    if (!h.ok()) return h.error();
    head = *h;
  }
  std::optional<StoreCursor> cursor;
  if (store) cursor.emplace(*store, head, problems, report);

  ArchiveProgress progress;
  progress.target = head;
  if (archive) {
    auto listing = archive::ListSegments(*archive);
    if (!listing.ok()) return listing.error();
    for (const std::string& problem : listing->problems) {
      problems.Add("archive: " + problem);
    }
    if (!listing->segments.empty()) {
      progress.target = std::max(progress.target, listing->segments.back().last_position);
    }
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    archive::CheckedSegment checked;
    archive::ParsedEvents events;
    Status failed = OkStatus();
    std::optional<bool> feed;  // whether the archive is a checkpointed feed's (first segment says)
    std::unordered_map<std::string, int64_t> feed_versions;
    for (const SegmentInfo& segment : listing->segments) {
      ++report.archive_segments;
      uint64_t bytes = 0;
      Status check = archive::FetchSegment(*archive, segment, dctx, checked, &bytes);
      if (!check.ok() && check.error().code != ErrorCode::kCorruption) {
        failed = check.error();  // the archive could not be read: no verdict on it
        break;
      }
      progress.bytes += bytes;
      Result<size_t> count =
          check.ok() ? archive::ParseSegmentEvents(segment, checked, events) : check.error();
      if (!count.ok()) {
        problems.Add("archive: " + count.error().message);
        continue;
      }
      report.archive_events += static_cast<int64_t>(*count);
      const bool segment_of_feed = !checked.header.checkpoints.empty();
      if (!feed) feed = report.feed_archive = segment_of_feed;
      if (*feed != segment_of_feed) {
        problems.Add("archive: '" + segment.key + "' " +
                     (segment_of_feed ? "keeps feed checkpoints in an archive of the log"
                                      : "keeps no feed checkpoints in an archive of a feed"));
      }
      // A feed's archive has its own numbering: it is checked on its own, not against the
      // store's log, and each stream must be in it once, in order, from version 1.
      for (size_t i = 0; *feed && i < *count; ++i) {
        const archive::EventView& archived = events.events[i];
        auto [it, inserted] = feed_versions.try_emplace(std::string(archived.stream_id), 0);
        if (archived.version != it->second + 1) {
          problems.Add("archive: stream '" + it->first + "' has version " +
                       std::to_string(archived.version) + " after " + std::to_string(it->second) +
                       " (at position " + std::to_string(archived.position) + " in '" +
                       segment.key + "')");
        }
        it->second = std::max(it->second, archived.version);
      }
      for (size_t i = 0; cursor && !*feed && i < *count; ++i) {
        const archive::EventView& archived = events.events[i];
        auto stored = cursor->SeekTo(archived.position);
        if (!stored.ok()) {
          failed = stored.error();
          break;
        }
        if (*stored == nullptr) {
          problems.Add("archive: '" + segment.key + "' holds positions from " +
                       std::to_string(archived.position) + " on, past the store's head " +
                       std::to_string(head));
          break;
        }
        if ((*stored)->position != archived.position) continue;  // reported as a store gap
        ++report.compared_events;
        if ((*stored)->type == kScavengedEventType && archived.type != kScavengedEventType) {
          ++report.scavenged_in_store;
        }
        if (std::string fields = Differences(archived, **stored); !fields.empty()) {
          problems.Add("position " + std::to_string(archived.position) +
                       ": the archive and the store differ in " + fields);
        }
      }
      if (!failed.ok()) break;
      progress.position = segment.last_position;
      progress.events = report.archive_events;
      if (options.progress) options.progress(progress);
    }
    ZSTD_freeDCtx(dctx);
    if (!failed.ok()) return failed.error();
  }
  if (cursor) {
    // The rest of the store, past the archive.
    auto rest = cursor->SeekTo(head + 1);
    if (!rest.ok()) return rest.error();
    progress.position = head;
    progress.events = report.store_events;
    if (options.progress) options.progress(progress);
  }
  return report;
}

}  // namespace evs
