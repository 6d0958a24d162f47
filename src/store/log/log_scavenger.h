// Scavenging of the log engine: the events that reads no longer return (log_format.h, format
// version 2; README.md, "The log engine") become kScavengedEventType markers, a segment at a
// time.
//
// The segment being written is sealed first (the writer goes on in a new one), so that every
// event hidden when Scavenge() starts is in a sealed segment. Each sealed segment that holds a
// hidden event (or that sealing left mostly unused: at least 64 KiB and an eighth of it), and
// whose next segment is of format version 2 (a version 1 segment's first
// record is seeded with the checksum of the record before it, so the segment before it cannot
// change; such segments are left as they are), is copied to "<number>.log.scavenge" as a version
// 2 segment of its used size: the same records in the same order, with the same batch numbers,
// positions, versions, ids and times; only the hidden events' type, data and metadata change
// (to "$scavenged", "{}", "{}"). The copy is fsynced and scanned back (every record checks out
// and matches the original's place in the log and ids), then, under the store's locations lock
// (readers of record locations hold it shared), the hidden events are checked to be still hidden,
// the copy is renamed over the segment, the folder fsynced, the segment swapped in and the index
// moved to the records' new offsets. A crash leaves the old file or the new one (a leftover
// *.log.scavenge is removed at open). The INDEX checkpoint is removed (durably) before the first
// swap, so that it can never name old offsets; the next clean close writes it again.
#pragma once

#include <atomic>
#include <functional>
#include <shared_mutex>
#include <string>

#include "evs/clock.h"
#include "evs/event_store.h"
#include "evs/file_system.h"
#include "store/commit_planner.h"
#include "store/log/log_index.h"
#include "store/log/log_writer.h"

namespace evs::store::log {

struct LogScavengeContext {
  FileSystem& fs;
  const std::string& folder;
  SegmentSet& segments;
  LogIndex& index;
  const CommitPlanner& planner;  // the durable heads
  Clock& clock;                  // for max_age
  std::shared_mutex& locations;  // held shared by every reader of index locations
  // Set when a segment was renamed but could not be swapped in: the index no longer matches the
  // files, and the store must not write its checkpoint at close (the next open rebuilds it).
  std::atomic<bool>& index_stale;
  // Seals the segment being written: the number of the one written now (LogWriter::Seal()).
  std::function<Result<uint32_t>()> seal;
};

Result<ScavengeReport> ScavengeLog(const LogScavengeContext& context,
                                   const ScavengeOptions& options);

}  // namespace evs::store::log
