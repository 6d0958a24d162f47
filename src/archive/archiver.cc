// The archiver: buffers the feed into one open segment and writes it as an object when it is
// full or old. The archive is its own checkpoint: what is in written segments is done, what is
// buffered comes again from the feed after a restart.
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "archive/segment_format.h"
#include "archive/segment_listing.h"
#include "evs/archive.h"

namespace evs {
namespace {

// Where an archive ends, as Open() found it.
struct ArchiveEnd {
  int64_t archived_up_to = 0;
  std::string last_key;  // "" when empty
  Uuid last_id;
  std::map<std::string, std::string> checkpoints;  // of the last segment
};

class ArchiverImpl final : public CheckpointedArchiver {
 public:
  // `checkpointed`: numbers events itself and keeps the feed's checkpoints (CheckpointedArchiver).
  ArchiverImpl(ObjectStore& objects, ArchiverOptions options, ArchiveEnd end, bool checkpointed)
      : objects_(objects),
        options_(options),
        checkpointed_(checkpointed),
        archived_up_to_(end.archived_up_to),
        last_id_(end.last_id),
        next_position_(end.archived_up_to + 1),
        last_key_(std::move(end.last_key)),
        checkpoints_(std::move(end.checkpoints)),
        writer_([this] { WriterLoop(); }) {}

  ~ArchiverImpl() override {
    {
      std::lock_guard guard(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    writer_.join();  // a write in flight is finished, not cut short
  }

  Status Handle(std::span<const RecordedEvent> batch) override {
    std::unique_lock lock(mu_);
    if (checkpointed_) return HoldUntilSave(lock, batch);
    for (const RecordedEvent& event : batch) {
      if (event.position < next_position_) continue;  // delivered again: archived or buffered
      // Checked before adding, too: a segment left full by a failed hand-off gets no more.
      if (Full()) {
        if (auto s = HandOff(lock); !s) return s;
      }
      if (event.position > next_position_) {
        return Error::Make(ErrorCode::kInvalidArgument,
                           "the archiver was handed position " + std::to_string(event.position) +
                               " where " + std::to_string(next_position_) +
                               " comes next: the feed skipped events");
      }
      if (open_.events() == 0) opened_at_us_ = clock_->MonotonicMicros();
      open_.Add(event);
      next_position_ = event.position + 1;
    }
    if (Full() || Due()) return HandOff(lock);
    return OkStatus();
  }

  Status Flush() override {
    std::unique_lock lock(mu_);
    if (auto s = FinishWriting(lock); !s) return s;
    if (open_.events() == 0) return OkStatus();
    return WriteLocked(open_);
  }

  Status FlushIfDue() override {
    std::unique_lock lock(mu_);
    return Due() ? HandOff(lock) : OkStatus();
  }

  // CheckpointStore: the feed's checkpoints, kept in the archive.
  Result<std::optional<std::string>> Load(const std::string& name) override {
    std::lock_guard guard(mu_);
    auto it = checkpoints_.find(name);
    if (it == checkpoints_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  // The batches held since the last Save() join the open segment with this checkpoint; the
  // segment is handed to the writer when full or due. A failed hand-off is not this checkpoint's
  // failure: the segment stays open and the next Handle() reports the write.
  Status Save(const std::string& name, const std::string& checkpoint) override {
    std::unique_lock lock(mu_);
    if (!checkpointed_) {
      return Error::Make(ErrorCode::kUnsupported,
                         "this archiver follows the embedded log and keeps no feed checkpoints");
    }
    for (RecordedEvent& event : held_) {
      if (open_.events() == 0) opened_at_us_ = clock_->MonotonicMicros();
      event.position = next_position_++;
      open_.Add(event);
    }
    held_.clear();
    // Bounded memory: past a million streams, repeats are caught only from then on.
    if (taken_versions_.size() > kMaxRememberedStreams) taken_versions_.clear();
    for (auto& [stream, version] : held_versions_) taken_versions_[stream] = version;
    held_versions_.clear();
    checkpoints_[name] = checkpoint;
    open_.SetCheckpoints(checkpoints_);
    if (Full() || Due()) (void)HandOff(lock);
    return OkStatus();
  }

  Status Park(const ParkedEvent&) override { return NoParking(); }
  Result<std::vector<ParkedEvent>> ListParked(const std::string&, int64_t, size_t) override {
    return NoParking();
  }
  Result<int64_t> CountParked(const std::string&) override { return int64_t{0}; }
  Result<std::vector<ParkedEvent>> RetryRequested(const std::string&, size_t) override {
    return std::vector<ParkedEvent>();
  }
  Status RequestRetry(int64_t) override { return NoParking(); }
  Status FinishRetry(int64_t, const std::optional<std::string>&) override { return NoParking(); }
  Status Unpark(int64_t) override { return NoParking(); }
  Status SaveState(const std::string&, const std::string&, const std::string&) override {
    return OkStatus();  // the consumer's own status shows it
  }

  int64_t ArchivedUpTo() const override {
    std::lock_guard guard(mu_);
    return archived_up_to_;
  }

  Uuid LastArchivedEventId() const override {
    std::lock_guard guard(mu_);
    return last_id_;
  }

  ArchiverStats Stats() const override {
    std::lock_guard guard(mu_);
    ArchiverStats stats = stats_;
    stats.archived_up_to = archived_up_to_;
    stats.buffered_events = static_cast<int64_t>(open_.events() + writing_.events());
    return stats;
  }

 private:
  static Error NoParking() {
    return Error::Make(ErrorCode::kUnsupported, "an archive keeps no parked events");
  }

  // A checkpointed archiver's Handle(): keeps copies of the batch until the feed saves the
  // checkpoint after it. A segment whose write failed must be written first. An event at or
  // below the last version of its stream that this archiver took is skipped: an at-least-once
  // producer (the change-capture relay retrying a batch) can put a commit on the feed twice.
  Status HoldUntilSave(std::unique_lock<std::mutex>& lock, std::span<const RecordedEvent> batch) {
    if (failed_) {
      if (auto s = FinishWriting(lock); !s) return s;
    }
    for (const RecordedEvent& event : batch) {
      auto [held, inserted] = held_versions_.try_emplace(event.stream_id, 0);
      if (inserted) {
        auto taken = taken_versions_.find(event.stream_id);
        if (taken != taken_versions_.end()) held->second = taken->second;
      }
      if (event.version <= held->second) continue;
      held->second = event.version;
      held_.push_back(event);
    }
    return OkStatus();
  }

  bool Full() const {
    return open_.events() >= options_.segment_max_events ||
           (open_.events() > 0 && open_.body_bytes() >= options_.segment_max_bytes);
  }
  bool Due() const {
    return open_.events() > 0 &&
           clock_->MonotonicMicros() - opened_at_us_ >=
               std::chrono::duration_cast<std::chrono::microseconds>(options_.segment_max_age)
                   .count();
  }

  // Waits for the segment in flight; one whose write failed is written again here, so that
  // segments reach the archive in order, each only after the one before.
  Status FinishWriting(std::unique_lock<std::mutex>& lock) {
    cv_.wait(lock, [&] { return !in_flight_; });
    if (!failed_) return OkStatus();
    if (auto s = WriteLocked(writing_); !s) return s;
    failed_.reset();
    return OkStatus();
  }

  // Hands the open segment to the writer thread, which compresses and puts it while the next
  // one fills.
  Status HandOff(std::unique_lock<std::mutex>& lock) {
    if (auto s = FinishWriting(lock); !s) return s;
    open_.Swap(writing_);
    in_flight_ = true;
    cv_.notify_all();
    return OkStatus();
  }

  void WriterLoop() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return in_flight_ || stopping_; });
      if (!in_flight_) return;
      // The segment is not touched by anyone else while in flight: write it unlocked.
      lock.unlock();
      auto object = Write(writing_);
      lock.lock();
      if (object.ok()) {
        Written(writing_, *object);
      } else {
        failed_ = object.error();
      }
      in_flight_ = false;
      cv_.notify_all();
    }
  }

  // Writes `segment` in the caller's thread (mu_ held).
  Status WriteLocked(archive::SegmentBuilder& segment) {
    auto object = Write(segment);
    if (!object.ok()) return object.error();
    Written(segment, *object);
    return OkStatus();
  }

  // Compresses and puts a segment; its size on success. The archive is unchanged on failure.
  Result<uint64_t> Write(archive::SegmentBuilder& segment) {
    // Another writer on the same archive would make overlapping segments: make sure the archive
    // still ends where this archiver left it. Only this archiver's writes move last_key_, and
    // they run one at a time.
    ListOptions list;
    list.prefix = archive::kSegmentKeyPrefix;
    list.start_after = last_key_;
    list.max_keys = 1;
    auto after = objects_.List(list);
    if (!after.ok()) return after.error();
    const std::string key = SegmentKey(segment.first_position(), segment.last_position());
    if (!after->objects.empty()) {
      // A put that failed after its object landed (a lost answer, a failed folder fsync) left
      // this very segment: adopt it rather than stall.
      if (after->objects.front().key == key && Holds(key, segment)) {
        last_key_ = key;
        return after->objects.front().size;
      }
      return Error::Make(ErrorCode::kUnavailable,
                         "archive " + objects_.Location() + ": '" + after->objects.front().key +
                             "' was written by another archiver; only one may write at a time");
    }
    auto object = segment.Build(options_.compression_level, clock_->NowMicros());
    if (!object.ok()) return object.error();
    if (auto s = objects_.Put(key, *object); !s) return s.error();
    last_key_ = key;
    return static_cast<uint64_t>(object->size());
  }

  // Whether the object at `key` is a sound segment with exactly `segment`'s event lines.
  bool Holds(const std::string& key, const archive::SegmentBuilder& segment) {
    std::optional<SegmentInfo> info = archive::ParseSegmentKey(key);
    if (!info) return false;
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    archive::CheckedSegment checked;
    const bool sound = archive::FetchSegment(objects_, *info, dctx, checked).ok();
    ZSTD_freeDCtx(dctx);
    return sound &&
           checked.text.view().substr(checked.body_begin, checked.body_end - checked.body_begin) ==
               segment.body();
  }

  // Records a segment as archived (mu_ held).
  void Written(archive::SegmentBuilder& segment, uint64_t size) {
    archived_up_to_ = segment.last_position();
    last_id_ = segment.last_id();
    stats_.segments_written += 1;
    stats_.bytes_written += size;
    segment.Clear();
  }

  ObjectStore& objects_;
  const ArchiverOptions options_;
  const std::shared_ptr<Clock> clock_ = options_.clock ? options_.clock : SystemClock();
  const bool checkpointed_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  archive::SegmentBuilder open_;     // filling
  archive::SegmentBuilder writing_;  // full, being written (in_flight_) or failed to (failed_)
  bool in_flight_ = false;
  std::optional<Error> failed_;
  bool stopping_ = false;
  int64_t archived_up_to_;
  Uuid last_id_;           // the id of the event at archived_up_to_
  int64_t next_position_;  // the position the feed must hand over next
  std::string last_key_;   // the archive's last segment ("" when empty)
  // Checkpointed: batches handed over since the last Save(), and the checkpoints as of it.
  std::vector<RecordedEvent> held_;
  std::map<std::string, std::string> checkpoints_;
  // Checkpointed: each stream's last version taken (saved) in this run, and held (not yet).
  static constexpr size_t kMaxRememberedStreams = 1'000'000;
  std::unordered_map<std::string, int64_t> taken_versions_;
  std::unordered_map<std::string, int64_t> held_versions_;
  int64_t opened_at_us_ = 0;  // the open segment's first event, on clock_'s monotonic time
  ArchiverStats stats_;
  std::thread writer_;  // last: starts once everything above is set up
};

// Checks the options and finds where the archive ends, removing what interrupted writes left.
Result<ArchiveEnd> OpenArchive(ObjectStore& objects, ArchiverOptions& options) {
  if (options.segment_max_events == 0 || options.segment_max_bytes == 0) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "segments must be allowed at least one event and one byte");
  }
  if (options.segment_max_bytes > archive::kMaxSegmentBytes) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "segments may hold at most " + std::to_string(archive::kMaxSegmentBytes) +
                           " bytes, got " + std::to_string(options.segment_max_bytes));
  }
  if (options.segment_max_age > archive::kMaxSegmentAge)
    options.segment_max_age = archive::kMaxSegmentAge;
  if (options.segment_max_age.count() < 0) options.segment_max_age = {};
  if (options.compression_level < 1 || options.compression_level > 19) {
    return Error::Make(ErrorCode::kInvalidArgument, "the compression level must be 1..19, got " +
                                                        std::to_string(options.compression_level));
  }
  if (auto removed = objects.RemoveIncompleteWrites(); !removed.ok()) return removed.error();
  auto listing = archive::ListSegments(objects);
  if (!listing.ok()) return listing.error();
  if (auto s = archive::RequireContinuous(objects, *listing); !s) return s.error();
  ArchiveEnd end;
  if (listing->segments.empty()) return end;
  // The last segment is read whole: it must be sound to be built on, and its last event's id
  // ties the archive to the history it came from.
  const SegmentInfo& last = listing->segments.back();
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  archive::CheckedSegment checked;
  archive::ParsedEvents parsed;
  Status sound = archive::FetchSegment(objects, last, dctx, checked);
  ZSTD_freeDCtx(dctx);
  if (!sound.ok() && sound.error().code != ErrorCode::kCorruption) return sound.error();
  if (sound.ok()) {
    auto count = archive::ParseSegmentEvents(last, checked, parsed);
    if (!count.ok()) sound = count.error();
  }
  if (!sound.ok()) {
    return Error::Make(ErrorCode::kCorruption, sound.error().message +
                                                   "; the archive's last segment must be sound to "
                                                   "archive after it (see evs verify)");
  }
  end.archived_up_to = last.last_position;
  end.last_key = last.key;
  end.last_id = parsed.events[parsed.count - 1].id;
  end.checkpoints = std::move(checked.header.checkpoints);
  return end;
}

}  // namespace

Result<std::unique_ptr<Archiver>> Archiver::Open(ObjectStore& objects, ArchiverOptions options) {
  auto end = OpenArchive(objects, options);
  if (!end.ok()) return end.error();
  if (!end->checkpoints.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "archive " + objects.Location() +
                           " holds a feed without global positions (its segments keep the "
                           "feed's checkpoints, e.g. a Kinesis consumer's): the embedded log needs "
                           "an archive of its own");
  }
  return std::unique_ptr<Archiver>(
      std::make_unique<ArchiverImpl>(objects, options, std::move(end).value(), false));
}

Result<std::unique_ptr<CheckpointedArchiver>> CheckpointedArchiver::Open(ObjectStore& objects,
                                                                         ArchiverOptions options) {
  auto end = OpenArchive(objects, options);
  if (!end.ok()) return end.error();
  if (end->archived_up_to > 0 && end->checkpoints.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "archive " + objects.Location() +
                           " holds the embedded log (its segments keep no feed checkpoints): a "
                           "feed without global positions, such as a Kinesis consumer, needs an "
                           "archive of its own");
  }
  return std::unique_ptr<CheckpointedArchiver>(
      std::make_unique<ArchiverImpl>(objects, options, std::move(end).value(), true));
}

}  // namespace evs
