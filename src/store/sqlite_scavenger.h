// Scavenging of the embedded store: the events that reads no longer return become
// kScavengedEventType markers, a step at a time through the writer (appends wait for one step at
// most), then the freed pages are given back to the file system.
//
// What a stream hides is always a prefix of its versions (a soft delete, truncate_before and
// max_count hide versions below a bound; max_age hides the oldest events, since recorded times
// never decrease in commit order), so each stream's progress is one number,
// stream_meta.scavenged_through, written in the same transaction as the step that advanced it:
// a scavenge killed at any point resumes where it stopped, and never scans a marker again.
#pragma once

#include <functional>

#include "evs/clock.h"
#include "evs/event_store.h"
#include "store/commit_planner.h"
#include "store/group_commit.h"

namespace evs::store {

struct ScavengeContext {
  GroupCommitWriter& writer;
  const CommitPlanner& planner;         // the durable heads
  Clock& clock;                         // for max_age
  std::function<int64_t()> file_bytes;  // the database file's size
};

Result<ScavengeReport> ScavengeSqlite(const ScavengeContext& context,
                                      const ScavengeOptions& options);

}  // namespace evs::store
