// Opening a log: the segments are scanned in order and every record that checks out (checksum
// chained from the record before, a length that fits, the position that follows on, the version
// that follows on in its stream) is handed to the caller; the first that does not is where the
// log ends. That record and everything after it are a torn tail (never acknowledged, since an
// append is acknowledged only once every record before it is durable): it is zeroed durably and
// later segments are removed, so that nothing after the end can ever be read as part of the log.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "evs/file_system.h"
#include "evs/status.h"
#include "store/log/log_checkpoint.h"
#include "store/log/log_format.h"
#include "store/log/log_index.h"
#include "store/log/segment.h"

namespace evs::store::log {

// Where the log ends, and the state the writer goes on from.
struct RecoveredLog {
  std::vector<std::shared_ptr<Segment>> segments;  // ascending; writes go to the last
  RecordLocation end;                              // where the next record goes
  RecordLocation last_record;                      // the last record (segment 0: none)
  uint64_t chain = 0;                              // the last record's checksum
  int64_t next_position = 1;
  uint64_t attempt = 0;  // the largest batch number seen
  int64_t last_recorded_us = 0;
  std::string torn;  // why the scan stopped short of the end, if it did (then zeroed)
  // Set when `start` was given and the log does not match it: nothing was scanned; recover
  // again without it.
  std::string start_rejected;
};

// Why the log does not end the prefix a checkpoint covers as `end` says (the last record is not
// where it says, or has another checksum); empty when it does.
std::string CheckLogEnd(const LogEnd& end,
                        const std::function<std::shared_ptr<Segment>(uint32_t)>& segments);

// Called for each record that checks out, in log order.
using RecordVisitor =
    std::function<Status(const RecordInfo& info, std::string_view payload, RecordLocation where)>;

// Recovers the log in `folder` (creating its first segment when there is none). `version_of`
// gives a stream's version as the visitor has built it so far, for the check that versions
// follow on.
Result<RecoveredLog> RecoverLog(FileSystem& fs, const std::string& folder, uint64_t segment_bytes,
                                const LogEnd* start,
                                const std::function<int64_t(std::string_view)>& version_of,
                                const RecordVisitor& visit);

}  // namespace evs::store::log
