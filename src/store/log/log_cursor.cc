#include "store/log/log_cursor.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace evs::store::log {

LogCursor::LogCursor(SegmentSource segments, RecordLocation start, size_t chunk_bytes)
    : segments_(std::move(segments)), next_(start), location_(start), chunk_(chunk_bytes) {}

void LogCursor::Seek(RecordLocation at, RecordLocation trusted_end) {
  next_ = at;
  location_ = at;
  left_at_.reset();
  error_ = false;
  const bool keep = segment_ && segment_->number() == at.segment &&
                    trusted_end.segment == at.segment && at.offset >= base_ &&
                    trusted_end.offset > at.offset && trusted_end.offset <= base_ + buffered_;
  buffered_ = keep ? static_cast<size_t>(trusted_end.offset - base_) : 0;
}

bool LogCursor::Fill(uint64_t offset, size_t n) {
  if (offset >= base_ && offset + n <= base_ + buffered_) return true;
  // The file may have grown since it was opened (a commit larger than a segment, written by the
  // owner while a reader in another process reads).
  if (offset + n > segment_->size() && offset + n > segment_->RefreshSize()) return false;
  const size_t want = std::max(n, chunk_);
  if (buffer_.size() < want) buffer_.resize(want);
  const ssize_t got = segment_->Read(buffer_.data(), want, offset);
  if (got < 0) {
    error_ = true;
    reason_ = "cannot read " + segment_->path() + ": " + std::strerror(errno);
    return false;
  }
  base_ = offset;
  buffered_ = static_cast<size_t>(got);
  return buffered_ >= n;
}

LogCursor::Step LogCursor::Next() {
  // Bounded: each pass either returns or moves to a later segment.
  for (;;) {
    if (!segment_ || segment_->number() != next_.segment) {
      segment_ = segments_(next_.segment);
      buffered_ = 0;
      if (!segment_) {
        location_ = next_;
        return Step::kEnd;
      }
    }
    location_ = next_;
    const uint64_t at = next_.offset;
    bool zero = !Fill(at, kRecordHeaderBytes);
    if (error_) return Step::kError;
    if (!zero) {
      header_bytes_ = buffer_.data() + (at - base_);
      header_ = ParseRecordHeader(header_bytes_);
      zero = header_.IsZero();
    }
    if (zero) {
      // This segment's records end here; the log goes on in the next segment, if any.
      auto following = segments_(next_.segment + 1);
      if (!following) return Step::kEnd;
      left_at_ = next_;
      next_ = RecordLocation{next_.segment + 1, kSegmentHeaderBytes};
      continue;
    }
    if (header_.length > kMaxRecordBytes ||
        (at + kRecordHeaderBytes + header_.length > segment_->size() &&
         at + kRecordHeaderBytes + header_.length > segment_->RefreshSize())) {
      reason_ = "a record header at offset " + std::to_string(at) + " of " + segment_->path() +
                " gives a length (" + std::to_string(header_.length) +
                ") that does not fit in the file";
      return Step::kBad;
    }
    if (!Fill(at, kRecordHeaderBytes + header_.length)) {
      if (error_) return Step::kError;
      reason_ = "the record at offset " + std::to_string(at) + " of " + segment_->path() +
                " is cut short";
      return Step::kBad;
    }
    header_bytes_ = buffer_.data() + (at - base_);
    payload_ = std::string_view(header_bytes_ + kRecordHeaderBytes, header_.length);
    next_.offset = at + kRecordHeaderBytes + header_.length;
    return Step::kRecord;
  }
}

}  // namespace evs::store::log
