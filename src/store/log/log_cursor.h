// Reads a log's records in order, across segments, through one reusable buffer (read in large
// chunks with pread): the sequential scan that recovery and reads of the global log share.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/log/log_format.h"
#include "store/log/log_index.h"
#include "store/log/segment.h"

namespace evs::store::log {

class LogCursor {
 public:
  // The segment of a number, or null when there is none.
  using SegmentSource = std::function<std::shared_ptr<Segment>(uint32_t number)>;

  enum class Step {
    kRecord,  // a record whose length fits: header(), payload(), location()
    kEnd,     // a zero header, or the end of the last segment
    kBad,     // what is there is not a record (reason()); kept at location()
    kError,   // a read failed (reason())
  };

  LogCursor(SegmentSource segments, RecordLocation start, size_t chunk_bytes = 256 * 1024);

  // Moves to the next record. After kRecord, location() is the record's; the next call moves
  // past it. A zero header, or a segment that ends, goes on at the start of the next segment,
  // if there is one.
  Step Next();

  const RecordHeader& header() const { return header_; }
  const char* header_bytes() const { return header_bytes_; }
  std::string_view payload() const { return payload_; }
  RecordLocation location() const { return location_; }
  // Where the next record would start (after a kRecord: past it).
  RecordLocation end() const { return next_; }
  const std::string& reason() const { return reason_; }
  // Where the scan left the last segment it read when it moved past a zero header (to resume
  // writing there if the next segment's first record does not check out).
  std::optional<RecordLocation> left_segment_at() const { return left_at_; }

  // Moves to `at` (the start of a record) for a scan that goes on later: the bytes buffered
  // before `trusted_end` (in the same segment) are kept and not read again; the rest of the
  // buffer is dropped, as what lay past it may have been a record still being written.
  void Seek(RecordLocation at, RecordLocation trusted_end);
  // The most bytes one read takes (at least what a record needs).
  void set_chunk_bytes(size_t bytes) { chunk_ = bytes; }

 private:
  // Makes [offset, offset + n) of the current segment readable at data_ + (offset - base_);
  // false when the segment ends first (or the read fails: error_ set).
  bool Fill(uint64_t offset, size_t n);

  SegmentSource segments_;
  std::shared_ptr<Segment> segment_;
  RecordLocation next_;
  RecordLocation location_;
  size_t chunk_;
  std::string buffer_;
  uint64_t base_ = 0;    // the segment offset of buffer_[0]
  size_t buffered_ = 0;  // valid bytes in buffer_
  RecordHeader header_;
  const char* header_bytes_ = nullptr;
  std::string_view payload_;
  std::string reason_;
  bool error_ = false;
  std::optional<RecordLocation> left_at_;
};

}  // namespace evs::store::log
