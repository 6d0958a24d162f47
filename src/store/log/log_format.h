// The log engine's on-disk format (README.md, "The log engine").
//
// A segment file starts with a 16-byte header (magic, format version) and holds records back to
// back; the rest of the file is the zeros it was preallocated with. A record is one commit:
//
//   checksum  u64   XXH3-64 of the 8 header bytes after it and the payload, seeded with the
//                   checksum of the record before: a chain, so that a stale record left behind
//                   a rewritten one never checks out. Where the chain starts depends on the
//                   segment's format version (the header's):
//                   * version 1 (the first releases): the chain runs across the whole log (0
//                     seeds the log's first record, every later one the record before it, also
//                     across segments), so a sealed segment cannot be rewritten without breaking
//                     every later record;
//                   * version 2 (written since): the chain restarts in each segment: the record
//                     at offset kSegmentHeaderBytes is seeded with SegmentSeed(number), so that a
//                     sealed segment can be rewritten on its own (Scavenge()). That first record
//                     must also have a batch number (attempt) no smaller than the record before
//                     it in the log, which is what the chain guaranteed across segments: a stale
//                     first record of a batch that failed never follows a later batch's record.
//                   Version 1 segments are read as they always were; new segments are version 2
//                   (a log may hold both: version 1 up to some segment, version 2 after it).
//   length    u32   payload bytes
//   kind      u8    kCommit or kLifecycle
//   zero      u8[3]
//   payload   `length` bytes, little-endian integers, strings as u32 length + bytes
//
// A header of zeros is where a segment's records end. Every record carries the position it
// starts at, so that recovery can also refuse a record that does not follow on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "evs/event.h"
#include "evs/event_store.h"
#include "store/commit_planner.h"

namespace evs::store::log {

inline constexpr char kSegmentMagic[8] = {'E', 'V', 'S', 'L', 'O', 'G', '\n', '\x1a'};
// The version new segments are written with; kFormatVersion1 segments are still read.
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint32_t kFormatVersion1 = 1;
inline constexpr size_t kSegmentHeaderBytes = 16;
inline constexpr size_t kRecordHeaderBytes = 16;
// The largest payload a record may have: more than the largest append the limits allow.
inline constexpr uint32_t kMaxRecordBytes = uint32_t{1} << 31;

enum class RecordKind : uint8_t {
  kCommit = 1,     // one append: its events
  kLifecycle = 2,  // a stream's metadata and deletes, as they are after the change
};

// The segment header, written when a segment is preallocated.
std::string SegmentHeader(uint32_t version = kFormatVersion);
// True when `bytes` (kSegmentHeaderBytes) are a segment header of a version this release reads.
bool IsSegmentHeader(const char* bytes);
// The format version of a segment header (IsSegmentHeader() true).
uint32_t SegmentHeaderVersion(const char* bytes);

// The seed of the first record of a version 2 segment: fixed per segment number, so that a
// segment's records never check out under another number.
inline uint64_t SegmentSeed(uint32_t number) {
  return (uint64_t{0x45565332} << 32) | number;  // "EVS2", the number
}
// The chain a record at `offset` of segment `number` (of format `version`) is seeded with, when
// the record before it in the log has checksum `previous`.
inline uint64_t ChainAt(uint32_t version, uint32_t number, uint64_t offset, uint64_t previous) {
  return version >= 2 && offset == kSegmentHeaderBytes ? SegmentSeed(number) : previous;
}

// Computes the checksum of the record that `record` points at (its header and payload) again
// under `chain`, writes it into the header, and makes it `chain` (a record moved to the start of
// another segment).
void ResealRecord(char* record, uint64_t& chain);

// The fields of a record that are not events.
struct RecordInfo {
  RecordKind kind = RecordKind::kCommit;
  uint64_t attempt = 0;        // the writer's batch number: differs between rewrites of a place
  int64_t first_position = 0;  // the position of its first event (the next one, for kLifecycle)
  int64_t first_version = 0;   // kCommit
  int64_t recorded_at_us = 0;  // kCommit
  uint32_t count = 0;          // kCommit: events
  std::string_view stream;     // the stream it belongs to
};

// Appends one commit record to `out`; `chain` is the checksum of the record before, and becomes
// this one's.
void AppendCommitRecord(std::string& out, uint64_t& chain, uint64_t attempt, int64_t first_position,
                        int64_t first_version, int64_t recorded_at_us, std::string_view stream,
                        const std::vector<EventData>& events);
// Appends one lifecycle record: the stream's state after the change.
void AppendLifecycleRecord(std::string& out, uint64_t& chain, uint64_t attempt,
                           int64_t next_position, std::string_view stream, const StreamHead& head);

// A record header as read.
struct RecordHeader {
  uint64_t checksum = 0;
  uint32_t length = 0;
  uint8_t kind = 0;
  bool IsZero() const { return checksum == 0 && length == 0 && kind == 0; }
};
RecordHeader ParseRecordHeader(const char* bytes);

// True when the record (its header and the `header.length` payload bytes right after it)
// matches the header's checksum under `chain`.
bool ChecksOut(const RecordHeader& header, const char* record, uint64_t chain);

// Parses a payload's fixed fields (and for kCommit, checks that its events are well formed):
// nullopt when it is not a record of this format.
std::optional<RecordInfo> ParseRecordInfo(uint8_t kind, std::string_view payload);

// The events of a commit payload, from its `skip`-th on, at most `limit`, appended to `out`.
// False when the payload is malformed.
bool DecodeEvents(std::string_view payload, size_t skip, size_t limit,
                  std::vector<RecordedEvent>& out);
// As above, but into out[used], out[used + 1], ... (`used` counts them), reusing those events and
// their strings' capacity, and appending only past out.size(): a scan that decodes page after
// page into the same vector allocates nothing per event once the strings are large enough.
bool DecodeEventsInto(std::string_view payload, size_t skip, size_t limit,
                      std::vector<RecordedEvent>& out, size_t& used);
// The fixed fields of a record (stream included) without walking a commit's events: for a scan
// of records that the store's recovery has checked (DecodeEventsInto checks the events it
// decodes). nullopt when they are malformed.
std::optional<RecordInfo> ParseRecordFront(uint8_t kind, std::string_view payload);
// The ids (and positions) of a commit payload's events.
bool DecodeIds(std::string_view payload, std::vector<CommittedId>& out);
// The stream state of a lifecycle payload.
bool DecodeLifecycle(std::string_view payload, StreamHead& head);

}  // namespace evs::store::log
