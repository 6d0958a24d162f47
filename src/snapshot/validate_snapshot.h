// The checks every snapshot store makes before it keeps a snapshot (evs/snapshot.h), so that all
// of them refuse the same snapshots with the same errors.
#pragma once

#include <string>

#include "evs/snapshot.h"
#include "evs/text.h"

namespace evs::snapshot {

inline Status ValidateSnapshot(const Snapshot& snapshot) {
  if (snapshot.stream_id.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "a snapshot needs a stream id");
  }
  // DynamoDB keeps only UTF-8 strings; the event store takes no other stream ids either.
  if (!IsValidUtf8(snapshot.stream_id)) {
    return Error::Make(ErrorCode::kInvalidArgument,
                       "the stream id of a snapshot is not valid UTF-8");
  }
  const std::string of = "the snapshot of '" + snapshot.stream_id + "'";
  if (snapshot.version < 1) {
    return Error::Make(
        ErrorCode::kInvalidArgument,
        of + " is at version " + std::to_string(snapshot.version) + "; versions start at 1");
  }
  // Before the JSON check: no need to parse what is refused anyway.
  if (snapshot.state.size() > kMaxSnapshotBytes) {
    return Error::Make(ErrorCode::kLimitExceeded,
                       of + " is " + std::to_string(snapshot.state.size()) +
                           " bytes; the limit is " + std::to_string(kMaxSnapshotBytes));
  }
  if (!IsValidJson(snapshot.state)) {
    return Error::Make(ErrorCode::kInvalidArgument, "the state in " + of + " is not JSON");
  }
  return OkStatus();
}

}  // namespace evs::snapshot
