// The persisted index checkpoint: derived data, so that opening a large log does not have to
// scan all of it. "<folder>/INDEX" holds the in-memory index (log_index.h), every stream's head
// and the writer's state at the end of the log as it was when written; opening loads it, checks
// that the log still ends its prefix the same way (the record it names as the last one is there
// with the checksum it names), and scans only the records after it. A checkpoint that is
// missing, damaged (its own checksum), of another format, or that the log does not match is
// ignored: the index is rebuilt from the whole log.
//
// Format: "EVSLIDX\n", u32 version 1, u32 zero, the fields below (little-endian, strings as
// u32 length + bytes), then the XXH3-64 of everything before it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "evs/file_system.h"
#include "evs/status.h"
#include "store/commit_planner.h"
#include "store/log/log_index.h"

namespace evs::store::log {

// Where the log covered by a checkpoint ends, and the state the scan goes on from.
struct LogEnd {
  RecordLocation end;          // where the next record goes
  RecordLocation last_record;  // the last record (segment 0: none)
  uint64_t chain = 0;          // its checksum
  int64_t next_position = 1;
  uint64_t attempt = 0;
  int64_t last_recorded_us = 0;
};

struct LogCheckpoint {
  LogEnd end;
  std::vector<std::pair<std::string, StreamHead>> heads;  // every stream of the index
};

std::string LogCheckpointPath(const std::string& folder);

// Writes the checkpoint of `index` and `checkpoint` durably (a temporary file, fsynced, renamed
// over the old one, the folder fsynced).
Status WriteLogCheckpoint(FileSystem& fs, const std::string& folder, const LogIndex& index,
                          const LogCheckpoint& checkpoint);

// Reads the checkpoint into `index` and returns it; nullopt when there is none or it is damaged
// (`why` says which), leaving `index` as it was.
std::optional<LogCheckpoint> ReadLogCheckpoint(FileSystem& fs, const std::string& folder,
                                               LogIndex& index, std::string* why);

}  // namespace evs::store::log
