// The segment object: JSON Lines framed by a header and a trailer, compressed with zstd
// (the format is described in include/evs/archive.h). Writing builds the lines as events come;
// reading decompresses, checks the checksum and the frame, then parses the events.
#pragma once

#include <zstd.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "evs/archive.h"
#include "evs/event.h"
#include "evs/object_store.h"
#include "evs/status.h"

namespace evs::archive {

inline constexpr int kSegmentFormatVersion = 1;
// The largest segment_max_bytes an archiver takes: readers refuse segments much larger.
inline constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 30;
// The longest segment_max_age an archiver takes (longer ones mean "never" in practice, and
// would overflow clock arithmetic).
inline constexpr std::chrono::hours kMaxSegmentAge{24 * 365 * 10};
inline constexpr std::string_view kSegmentKeyPrefix = "segments/";

// [first, last] from a key written by SegmentKey(); nothing for any other key.
std::optional<SegmentInfo> ParseSegmentKey(std::string_view key);

// Collects events into the lines of one segment, then compresses them into its object.
class SegmentBuilder {
 public:
  SegmentBuilder();
  ~SegmentBuilder();
  SegmentBuilder(const SegmentBuilder&) = delete;
  SegmentBuilder& operator=(const SegmentBuilder&) = delete;

  // Adds the event's line. Events must come in position order, each following the one before.
  void Add(const RecordedEvent& event);

  size_t events() const { return count_; }
  size_t body_bytes() const { return body_.size(); }
  std::string_view body() const { return body_; }  // the event lines
  int64_t first_position() const { return first_position_; }
  int64_t last_position() const { return last_position_; }
  const Uuid& last_id() const { return last_id_; }
  // The feed's checkpoints as they stood after the segment's last event (archives of a feed
  // without global positions; see CheckpointedArchiver), recorded in the header.
  void SetCheckpoints(const std::map<std::string, std::string>& checkpoints) {
    checkpoints_ = checkpoints;
  }

  // The segment object (header, lines, trailer, compressed at `level`), ready to put.
  Result<std::string> Build(int level, int64_t created_at_us);
  void Clear();
  void Swap(SegmentBuilder& other);

 private:
  std::string body_;
  size_t count_ = 0;
  int64_t first_position_ = 0;
  int64_t last_position_ = 0;
  int64_t first_recorded_at_us_ = 0;
  int64_t last_recorded_at_us_ = 0;
  Uuid last_id_;
  std::map<std::string, std::string> checkpoints_;
  ZSTD_CCtx* cctx_;
};

// What a segment's header says.
struct SegmentHeader {
  int64_t version = 0;
  int64_t first_position = 0;
  int64_t last_position = 0;
  int64_t count = 0;
  int64_t first_recorded_at_us = 0;
  int64_t last_recorded_at_us = 0;
  std::map<std::string, std::string> checkpoints;  // empty for archives of the embedded log
};

// A segment's decompressed text, with room for simdjson's padding after it. Never zero-filled
// (decompression writes every byte), and kept when a later segment fits.
class SegmentText {
 public:
  void Resize(size_t size);
  char* data() { return buffer_.get(); }
  const char* data() const { return buffer_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }  // readable bytes from data(), padding included
  std::string_view view() const { return {buffer_.get(), size_}; }

 private:
  std::unique_ptr<char[]> buffer_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// A decompressed, checked segment: its text (with simdjson's padding after it) and where the
// event lines are.
struct CheckedSegment {
  SegmentHeader header;
  SegmentText text;
  size_t body_begin = 0;  // the first event line
  size_t body_end = 0;    // just after the last event line
};

// Decompresses `object` (the segment `segment` names) and checks: a complete zstd frame, a known
// format version, the checksum, and that header, trailer and key agree. Errors are kCorruption
// naming the object. Reuses `out`'s buffer.
Status CheckSegment(const SegmentInfo& segment, std::string_view object, ZSTD_DCtx* dctx,
                    CheckedSegment& out);

// Gets the segment's object from `objects` and checks it (CheckSegment); the object's size in
// `bytes`. An object that was listed but is gone is kCorruption naming it; other failures of the
// object store are passed on as they are.
Status FetchSegment(ObjectStore& objects, const SegmentInfo& segment, ZSTD_DCtx* dctx,
                    CheckedSegment& out, uint64_t* bytes = nullptr);

// One parsed event line. The text fields point into the segment's text, or into
// ParsedEvents::unescaped where the line escaped them: valid while both are unchanged.
struct EventView {
  int64_t position = 0;
  int64_t version = 0;
  int64_t recorded_at_us = 0;
  Uuid id;
  std::string_view stream_id;
  std::string_view type;
  std::string_view data;
  std::string_view metadata;
};

struct ParsedEvents {
  std::vector<EventView> events;  // the first `count` are the segment's; grown, never shrunk
  size_t count = 0;
  std::deque<std::string> unescaped;  // texts that needed unescaping (stable addresses)
};

// Parses the event lines of a checked segment into `parsed` and checks that positions run
// densely over the header's range. Views, not copies: parsing allocates next to nothing.
// Returns how many; kCorruption naming the object and the line on any malformed line.
Result<size_t> ParseSegmentEvents(const SegmentInfo& segment, const CheckedSegment& checked,
                                  ParsedEvents& parsed);

// Copies a view into a recorded event, reusing `out`'s buffers.
void CopyEvent(const EventView& view, RecordedEvent& out);

}  // namespace evs::archive
