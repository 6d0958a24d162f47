// The log engine's in-memory indexes: derived data, rebuilt from the log when the store opens.
//
// * stream -> its commits (the first version of each and where its record is), ordered by
//   version: a stream read finds the record holding a version by binary search;
// * position -> record, sparse: one mark per few KiB of log, each the first position of a record
//   and where it is; a read of the log scans forward from the mark before its position.
//
// The writer adds a commit once its record is written (before it is durable): readers bound what
// they use by the durable heads and head position, so entries past those are never read.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/commit_planner.h"

namespace evs::store::log {

// Where a record starts: a segment and the offset of its header.
struct RecordLocation {
  uint32_t segment = 0;
  uint64_t offset = 0;
};

// One commit of a stream.
struct StreamCommit {
  int64_t first_version = 0;
  uint64_t packed = 0;  // the record's location: segment << 40 | offset
};

inline uint64_t PackLocation(RecordLocation l) { return (uint64_t{l.segment} << 40) | l.offset; }
inline RecordLocation UnpackLocation(uint64_t packed) {
  return RecordLocation{static_cast<uint32_t>(packed >> 40), packed & ((uint64_t{1} << 40) - 1)};
}

class LogIndex {
 public:
  // A position mark: the first position of a record and where it is.
  struct Mark {
    int64_t first_position;
    uint64_t packed;
  };
  using StreamMap = std::map<std::string, std::vector<StreamCommit>, std::less<>>;

  // The distance between two position marks, in bytes of log.
  static constexpr uint64_t kMarkBytes = 16 * 1024;

  // A commit record of `stream` with events from `first_version`, positions from
  // `first_position`.
  void AddCommit(std::string_view stream, int64_t first_version, int64_t first_position,
                 RecordLocation where);
  // The commits of `stream` (made empty when missing), for AddCommitTo(): a pointer that stays
  // valid until Load(), so that a scan of a long log looks each stream up once per record in a
  // hash map of its own rather than in the ordered map.
  std::vector<StreamCommit>* StreamSlot(std::string_view stream);
  void AddCommitTo(std::vector<StreamCommit>* slot, int64_t first_version, int64_t first_position,
                   RecordLocation where);
  // A record that holds no events (a lifecycle change of `stream`): a mark may point at it.
  void AddRecord(std::string_view stream, int64_t first_position, RecordLocation where);

  // The commits of `stream` holding versions [from, to] (from >= 1), in version order.
  std::vector<StreamCommit> CommitsOf(std::string_view stream, int64_t from, int64_t to) const;
  // Where to start scanning for `position`: a record at or before the first record holding it.
  // nullopt when the log has no record.
  std::optional<std::pair<int64_t, RecordLocation>> MarkBefore(int64_t position) const;
  // Up to `limit` stream ids after `after`, in order.
  std::vector<std::string> StreamsAfter(std::string_view after, size_t limit) const;
  size_t StreamCount() const;

  // Segment `segment` was rewritten (Scavenge()): each record of it moved from the first offset
  // of a pair in `moved` (sorted by it) to the second; `streams` are the streams with commits in
  // it. The caller keeps readers of locations out meanwhile (the store's locations lock).
  void Relocate(uint32_t segment, const std::vector<std::pair<uint64_t, uint64_t>>& moved,
                const std::vector<std::string>& streams);
  // How many times Relocate() was called: a reader that keeps locations between reads (a cursor
  // that resumes) starts afresh when it changed.
  uint64_t Relocations() const { return relocations_.load(std::memory_order_acquire); }

  // For the persisted checkpoint (log_checkpoint.h): visits every stream and mark (under the
  // lock: the writer waits meanwhile), and replaces the whole index (before the store opens).
  void Visit(
      const std::function<void(const std::string&, const std::vector<StreamCommit>&)>& stream,
      const std::function<void(const Mark&)>& mark) const;
  void Load(StreamMap streams, std::vector<Mark> marks);

 private:
  void MaybeMark(int64_t first_position, RecordLocation where);
  // With mu_ held: the commits of `stream`, made empty when missing; or null when missing.
  std::vector<StreamCommit>* Slot(std::string_view stream);
  const std::vector<StreamCommit>* Find(std::string_view stream) const;

  mutable std::shared_mutex mu_;
  StreamMap streams_;  // ordered, for StreamsAfter() and the checkpoint
  // The same streams by hash, for the lookups of every commit and read: its keys view the map's
  // (a node's key and value never move).
  std::unordered_map<std::string_view, std::vector<StreamCommit>*> by_id_;
  std::vector<Mark> marks_;
  RecordLocation last_mark_{};
  std::atomic<uint64_t> relocations_{0};
};

}  // namespace evs::store::log
