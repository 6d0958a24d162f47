// Replay: a fetch thread gets, decompresses and checks the next segment while the caller's
// thread parses the current one (all of it, before any event is delivered) and hands it to the
// handler. Measured per event: decompression and checksum about as much CPU as parsing and a
// small handler, so the two threads keep two cores busy. Buffers are reused: the steady state
// allocates nothing per event.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "archive/segment_format.h"
#include "archive/segment_listing.h"
#include "evs/archive.h"

namespace evs {
namespace {

struct Slot {
  const SegmentInfo* segment = nullptr;
  archive::CheckedSegment checked;
  uint64_t bytes = 0;
  Status status = OkStatus();
};

// Fills slots with checked segments, in order, on its own thread.
class Fetcher {
 public:
  Fetcher(ObjectStore& objects, std::vector<const SegmentInfo*> segments)
      : objects_(objects), segments_(std::move(segments)) {
    for (Slot& slot : slots_) free_.push_back(&slot);
    thread_ = std::thread([this] { Run(); });
  }
  ~Fetcher() {
    {
      std::lock_guard guard(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // The next segment in order (nullptr after the last); give it back with Release().
  Slot* Next() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !ready_.empty() || done_; });
    if (ready_.empty()) return nullptr;
    Slot* slot = ready_.front();
    ready_.pop_front();
    return slot;
  }

  void Release(Slot* slot) {
    {
      std::lock_guard guard(mu_);
      free_.push_back(slot);
    }
    cv_.notify_all();
  }

 private:
  void Run() {
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    for (const SegmentInfo* segment : segments_) {
      Slot* slot;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !free_.empty() || cancelled_; });
        if (cancelled_) break;
        slot = free_.front();
        free_.pop_front();
      }
      Fill(*segment, *slot, dctx);
      const bool failed = !slot->status.ok();
      {
        std::lock_guard guard(mu_);
        ready_.push_back(slot);
      }
      cv_.notify_all();
      if (failed) break;  // nothing after a bad segment is delivered
    }
    ZSTD_freeDCtx(dctx);
    {
      std::lock_guard guard(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }

  void Fill(const SegmentInfo& segment, Slot& slot, ZSTD_DCtx* dctx) {
    slot.segment = &segment;
    auto object = objects_.Get(segment.key);
    if (!object.ok()) {
      Error error = object.error();
      if (error.code == ErrorCode::kNotFound) {
        error = Error::Make(ErrorCode::kCorruption,
                            "archive object '" + segment.key + "' was listed but is gone");
      }
      slot.status = error;
      return;
    }
    slot.bytes = object->size();
    slot.status = archive::CheckSegment(segment, *object, dctx, slot.checked);
  }

  ObjectStore& objects_;
  const std::vector<const SegmentInfo*> segments_;
  Slot slots_[2];
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Slot*> free_;
  std::deque<Slot*> ready_;
  bool done_ = false;
  bool cancelled_ = false;
  std::thread thread_;
};

class Reader final : public ArchiveReader {
 public:
  Reader(ObjectStore& objects, std::vector<SegmentInfo> segments)
      : objects_(objects), segments_(std::move(segments)) {}

  const std::vector<SegmentInfo>& Segments() const override { return segments_; }
  int64_t LastPosition() const override {
    return segments_.empty() ? 0 : segments_.back().last_position;
  }

  Result<ReplayResult> Replay(const ReplayOptions& options, EventHandler& handler) override {
    if (options.from < 1 || options.to < options.from) {
      return Error::Make(ErrorCode::kInvalidArgument,
                         "the range to replay is empty or invalid: from " +
                             std::to_string(options.from) + " to " + std::to_string(options.to));
    }
    if (options.batch_size == 0) {
      return Error::Make(ErrorCode::kInvalidArgument, "the batch size must be at least 1");
    }
    std::vector<const SegmentInfo*> wanted;
    for (const SegmentInfo& segment : segments_) {
      if (segment.last_position >= options.from && segment.first_position <= options.to) {
        wanted.push_back(&segment);
      }
    }
    ReplayResult result;
    ArchiveProgress progress;
    progress.target = std::min(options.to, LastPosition());
    Fetcher fetcher(objects_, std::move(wanted));
    std::vector<RecordedEvent> events;
    while (Slot* slot = fetcher.Next()) {
      if (!slot->status.ok()) return slot->status.error();
      auto count = archive::ParseSegmentEvents(*slot->segment, slot->checked, events);
      if (!count.ok()) return count.error();
      result.segments += 1;
      result.bytes += slot->bytes;
      progress.bytes = result.bytes;
      // Events of this segment inside [from, to], cut at the first one recorded after `until`.
      auto begin = events.begin();
      auto end = begin + static_cast<ptrdiff_t>(*count);
      const int64_t first = slot->segment->first_position;
      if (options.from > first) begin += options.from - first;
      if (options.to < slot->segment->last_position) {
        end -= slot->segment->last_position - options.to;
      }
      bool reached_until = false;
      if (options.until_us) {
        auto late = std::find_if(begin, end, [&](const RecordedEvent& e) {
          return e.recorded_at_us > *options.until_us;
        });
        reached_until = late != end;
        end = late;
      }
      for (auto it = begin; it != end;) {
        const size_t n = std::min(options.batch_size, static_cast<size_t>(std::distance(it, end)));
        if (auto s = handler.Handle(std::span<const RecordedEvent>(&*it, n)); !s) {
          return s.error();
        }
        if (result.events == 0) result.first_position = it->position;
        it += static_cast<ptrdiff_t>(n);
        result.events += static_cast<int64_t>(n);
        result.last_position = (it - 1)->position;
        progress.position = result.last_position;
        progress.events = result.events;
        if (options.progress) options.progress(progress);
      }
      const bool last = reached_until || slot->segment->last_position >= options.to;
      fetcher.Release(slot);
      if (last) break;
    }
    return result;
  }

 private:
  ObjectStore& objects_;
  const std::vector<SegmentInfo> segments_;
};

}  // namespace

Result<std::unique_ptr<ArchiveReader>> ArchiveReader::Open(ObjectStore& objects) {
  auto listing = archive::ListSegments(objects);
  if (!listing.ok()) return listing.error();
  if (auto s = archive::RequireContinuous(objects, *listing); !s) return s.error();
  return std::unique_ptr<ArchiveReader>(
      std::make_unique<Reader>(objects, std::move(listing->segments)));
}

}  // namespace evs
