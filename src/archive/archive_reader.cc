// Replay runs as a pipeline of three threads over a ring of segment slots: one fetches,
// decompresses and checks segment n+2, one parses segment n+1 (all of it, so nothing of a bad
// segment is delivered), and the caller's thread hands segment n to the handler. Measured per
// event: decompression with the checksum and parsing take about the same CPU, the handler less,
// so on two cores no stage waits long for another. Buffers stay with their slots: the steady
// state allocates nothing per event.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "archive/segment_format.h"
#include "archive/segment_listing.h"
#include "evs/archive.h"
#include "evs/upcasting.h"

namespace evs {
namespace {

constexpr size_t kSlots = 3;  // one per stage

struct Slot {
  const SegmentInfo* segment = nullptr;
  archive::CheckedSegment checked;
  archive::ParsedEvents parsed;  // views into `checked`
  uint64_t bytes = 0;
  Status status = OkStatus();
};

class Pipeline {
 public:
  Pipeline(ObjectStore& objects, std::vector<const SegmentInfo*> segments)
      : objects_(objects), segments_(std::move(segments)) {
    for (Slot& slot : slots_) free_.push_back(&slot);
    fetcher_ = std::thread([this] { FetchLoop(); });
    parser_ = std::thread([this] { ParseLoop(); });
  }
  ~Pipeline() {
    {
      std::lock_guard guard(mu_);
      cancelled_ = true;
    }
    cv_.notify_all();
    fetcher_.join();
    parser_.join();
  }

  // The next segment in order, parsed (nullptr after the last); give it back with Release().
  // A slot with an error status is the last one.
  Slot* Next() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !parsed_.empty() || parse_done_; });
    if (parsed_.empty()) return nullptr;
    Slot* slot = parsed_.front();
    parsed_.pop_front();
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
  // Takes the front of `queue` once there is one; nullptr when cancelled or when `done` says
  // nothing more will come.
  Slot* Take(std::deque<Slot*>& queue, const bool& done) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !queue.empty() || done || cancelled_; });
    if (cancelled_ || queue.empty()) return nullptr;
    Slot* slot = queue.front();
    queue.pop_front();
    return slot;
  }

  void Put(std::deque<Slot*>& queue, Slot* slot, bool& done, bool last) {
    {
      std::lock_guard guard(mu_);
      if (slot) queue.push_back(slot);
      if (last) done = true;
    }
    cv_.notify_all();
  }

  void FetchLoop() {
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    const bool never = false;
    for (const SegmentInfo* segment : segments_) {
      Slot* slot = Take(free_, never);
      if (!slot) break;
      Fetch(*segment, *slot, dctx);
      const bool failed = !slot->status.ok();
      Put(checked_, slot, fetch_done_, failed);
      if (failed) break;  // nothing after a bad segment is read
    }
    ZSTD_freeDCtx(dctx);
    Put(checked_, nullptr, fetch_done_, true);
  }

  void ParseLoop() {
    while (Slot* slot = Take(checked_, fetch_done_)) {
      if (slot->status.ok()) {
        auto count = archive::ParseSegmentEvents(*slot->segment, slot->checked, slot->parsed);
        if (!count.ok()) slot->status = count.error();
      }
      const bool failed = !slot->status.ok();
      Put(parsed_, slot, parse_done_, failed);
      if (failed) break;
    }
    Put(parsed_, nullptr, parse_done_, true);
  }

  void Fetch(const SegmentInfo& segment, Slot& slot, ZSTD_DCtx* dctx) {
    slot.segment = &segment;
    slot.parsed.count = 0;
    slot.status = archive::FetchSegment(objects_, segment, dctx, slot.checked, &slot.bytes);
  }

  ObjectStore& objects_;
  const std::vector<const SegmentInfo*> segments_;
  Slot slots_[kSlots];
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Slot*> free_;
  std::deque<Slot*> checked_;
  std::deque<Slot*> parsed_;
  bool fetch_done_ = false;
  bool parse_done_ = false;
  bool cancelled_ = false;
  std::thread fetcher_;
  std::thread parser_;
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
    // Handlers see the current shapes; result.events still counts every event read.
    std::unique_ptr<EventHandler> upcasting;
    if (options.upcaster) upcasting = NewUpcastingHandler(options.upcaster, handler);
    EventHandler& deliver_to = upcasting ? *upcasting : handler;
    ReplayResult result;
    ArchiveProgress progress;
    progress.target = std::min(options.to, LastPosition());
    Pipeline pipeline(objects_, std::move(wanted));
    std::vector<RecordedEvent> batch;
    while (Slot* slot = pipeline.Next()) {
      if (!slot->status.ok()) return slot->status.error();
      result.segments += 1;
      result.bytes += slot->bytes;
      progress.bytes = result.bytes;
      // Events of this segment inside [from, to], cut at the first one recorded after `until`.
      const archive::EventView* begin = slot->parsed.events.data();
      const archive::EventView* end = begin + slot->parsed.count;
      const int64_t first = slot->segment->first_position;
      if (options.from > first) begin += options.from - first;
      if (options.to < slot->segment->last_position) {
        end -= slot->segment->last_position - options.to;
      }
      bool reached_until = false;
      if (options.until_us) {
        const archive::EventView* late = std::find_if(begin, end, [&](const archive::EventView& e) {
          return e.recorded_at_us > *options.until_us;
        });
        reached_until = late != end;
        end = late;
      }
      for (const archive::EventView* it = begin; it < end;) {
        const size_t n = std::min(options.batch_size, static_cast<size_t>(end - it));
        // Copied into a batch whose buffers are reused from one batch to the next.
        if (batch.size() < n) batch.resize(n);
        for (size_t i = 0; i < n; ++i) archive::CopyEvent(it[i], batch[i]);
        if (auto s = deliver_to.Handle(std::span<const RecordedEvent>(batch.data(), n)); !s) {
          return s.error();
        }
        if (result.events == 0) result.first_position = it->position;
        it += n;
        result.events += static_cast<int64_t>(n);
        result.last_position = (it - 1)->position;
        progress.position = result.last_position;
        progress.events = result.events;
        if (options.progress) options.progress(progress);
      }
      const bool last = reached_until || slot->segment->last_position >= options.to;
      pipeline.Release(slot);
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
