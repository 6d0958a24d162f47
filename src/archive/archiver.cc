// The archiver: buffers the feed into one open segment and writes it as an object when it is
// full or old. The archive is its own checkpoint: what is in written segments is done, what is
// buffered comes again from the feed after a restart.
#include <chrono>
#include <mutex>

#include "archive/segment_format.h"
#include "archive/segment_listing.h"
#include "evs/archive.h"

namespace evs {
namespace {

using Clock = std::chrono::steady_clock;

class ArchiverImpl final : public Archiver {
 public:
  ArchiverImpl(ObjectStore& objects, ArchiverOptions options, int64_t archived_up_to,
               std::string last_key)
      : objects_(objects),
        options_(options),
        archived_up_to_(archived_up_to),
        last_key_(std::move(last_key)) {}

  Status Handle(std::span<const RecordedEvent> batch) override {
    std::lock_guard guard(mu_);
    for (const RecordedEvent& event : batch) {
      if (auto s = WriteIfFull(); !s) return s;
      const int64_t next = archived_up_to_ + static_cast<int64_t>(builder_.events()) + 1;
      if (event.position < next) continue;  // delivered again: already archived or buffered
      if (event.position > next) {
        return Error::Make(ErrorCode::kInvalidArgument, "the archiver was handed position " +
                                                            std::to_string(event.position) +
                                                            " where " + std::to_string(next) +
                                                            " comes next: the feed skipped events");
      }
      if (builder_.events() == 0) opened_at_ = Clock::now();
      builder_.Add(event);
    }
    if (auto s = WriteIfFull(); !s) return s;
    return WriteIfDue();
  }

  Status Flush() override {
    std::lock_guard guard(mu_);
    return builder_.events() == 0 ? OkStatus() : WriteSegment();
  }

  Status FlushIfDue() override {
    std::lock_guard guard(mu_);
    return WriteIfDue();
  }

  int64_t ArchivedUpTo() const override {
    std::lock_guard guard(mu_);
    return archived_up_to_;
  }

  ArchiverStats Stats() const override {
    std::lock_guard guard(mu_);
    ArchiverStats stats = stats_;
    stats.archived_up_to = archived_up_to_;
    stats.buffered_events = static_cast<int64_t>(builder_.events());
    return stats;
  }

 private:
  Status WriteIfFull() {
    if (builder_.events() >= options_.segment_max_events ||
        (builder_.events() > 0 && builder_.body_bytes() >= options_.segment_max_bytes)) {
      return WriteSegment();
    }
    return OkStatus();
  }

  Status WriteIfDue() {
    if (builder_.events() > 0 && Clock::now() - opened_at_ >= options_.segment_max_age) {
      return WriteSegment();
    }
    return OkStatus();
  }

  // Writes the open segment. On failure the events stay buffered and the archive unchanged.
  Status WriteSegment() {
    // Another writer on the same archive would make overlapping segments: make sure the archive
    // still ends where this archiver left it.
    ListOptions list;
    list.prefix = archive::kSegmentKeyPrefix;
    list.start_after = last_key_;
    list.max_keys = 1;
    auto after = objects_.List(list);
    if (!after.ok()) return after.error();
    if (!after->objects.empty()) {
      return Error::Make(ErrorCode::kUnavailable,
                         "archive " + objects_.Location() + ": '" + after->objects.front().key +
                             "' was written by another archiver; only one may write at a time");
    }
    auto object = builder_.Build(options_.compression_level);
    if (!object.ok()) return object.error();
    const std::string key = SegmentKey(builder_.first_position(), builder_.last_position());
    if (auto s = objects_.Put(key, *object); !s) return s;
    archived_up_to_ = builder_.last_position();
    last_key_ = key;
    stats_.segments_written += 1;
    stats_.bytes_written += object->size();
    builder_.Clear();
    return OkStatus();
  }

  ObjectStore& objects_;
  const ArchiverOptions options_;
  mutable std::mutex mu_;  // Stats() may be called from any thread
  archive::SegmentBuilder builder_;
  int64_t archived_up_to_;
  std::string last_key_;  // the archive's last segment ("" when empty)
  Clock::time_point opened_at_;
  ArchiverStats stats_;
};

}  // namespace

Result<std::unique_ptr<Archiver>> Archiver::Open(ObjectStore& objects, ArchiverOptions options) {
  if (options.segment_max_events == 0 || options.segment_max_bytes == 0) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "segments must be allowed at least one event and one byte");
  }
  if (options.compression_level < 1 || options.compression_level > 19) {
    return Error::Make(ErrorCode::kInvalidArgument, "the compression level must be 1..19, got " +
                                                        std::to_string(options.compression_level));
  }
  if (auto removed = objects.RemoveIncompleteWrites(); !removed.ok()) return removed.error();
  auto listing = archive::ListSegments(objects);
  if (!listing.ok()) return listing.error();
  if (auto s = archive::RequireContinuous(objects, *listing); !s) return s.error();
  int64_t archived_up_to = 0;
  std::string last_key;
  if (!listing->segments.empty()) {
    archived_up_to = listing->segments.back().last_position;
    last_key = listing->segments.back().key;
  }
  return std::unique_ptr<Archiver>(
      std::make_unique<ArchiverImpl>(objects, options, archived_up_to, std::move(last_key)));
}

}  // namespace evs
