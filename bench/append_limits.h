// The two limits that `evs-bench append` measures on the disk it runs on, beside the stores:
// what a trivial log (no index, no decisions, 200-byte records) reaches with the same workload.
//
// * threads-limit: `writers` threads, each appending one record and blocking until it is
//   durable, through a leader/follower group commit (the thread that finds no sync running
//   writes everything queued with one pwrite and one fdatasync; the others wait). The ceiling of
//   any store that serves blocking writers with a thread each.
// * fsync-limit: one thread writing groups of `group` records, one pwrite and one fdatasync per
//   group. The ceiling of a store whose clients keep `group` appends in flight without a thread
//   each (asynchronous appends). With a group of 1, its p50 is one write + one fdatasync.
//
// Both write into a file preallocated with zeros and fsynced first, round and round, so that no
// fdatasync has to journal a change of the file's size: the disk's limit, not the file system's.
#pragma once

#include "bench.h"
#include "report.h"

namespace evs::bench {

inline constexpr size_t kLimitRecordBytes = 200;

// Rows named "threads-limit" / "fsync-limit" (bench and concurrency left for the caller).
// ops counts records.
Result<Row> RunThreadsLimit(const BenchOptions& options, int writers);
Result<Row> RunFsyncLimit(const BenchOptions& options, int group);

}  // namespace evs::bench
