// `evs migrate`: the SQLite store of a data folder (as every release before the log engine wrote
// it) copied into a new log store, then checked against it event by event.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "evs/event_store.h"
#include "evs/status.h"

namespace evs::store::log {

struct MigrationReport {
  int64_t events = 0;         // copied, positions 1..last_position
  int64_t last_position = 0;  // the source's head
  int64_t streams = 0;        // streams of the source, deleted ones included
  int64_t lifecycles = 0;     // streams whose metadata or deletes were copied
};

// Opens the SQLite store at `sqlite_path` (kUnavailable while another process has it open; it
// stays locked until the end) and copies every event (positions, versions, ids, types, data,
// metadata and times, scavenged markers as they are), then each stream's metadata and deletes
// exactly (streams with metadata and no events too), into a new log store in `folder` (which
// must not exist; it appears only once complete and durable). Then opens that and compares it
// with the source: every event, every stream's version and lifecycle. A difference is
// kCorruption (the new folder stays for inspection). The SQLite store is never changed.
// `progress` (may be empty) gets (step, done, total) now and then: "copy" and "check", in
// positions.
Result<MigrationReport> MigrateSqliteIntoLog(
    const std::string& sqlite_path, const std::string& folder, uint64_t segment_bytes,
    const std::function<void(const char* step, int64_t done, int64_t total)>& progress);

}  // namespace evs::store::log
