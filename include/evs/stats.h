// Counters and distributions a store reports for monitoring (e.g. `GET /metrics`).
#pragma once

#include <cstdint>
#include <vector>

namespace evs {

// A distribution in fixed buckets, as Prometheus histograms describe one: counts[i] is the
// number of observations <= upper_bounds[i] and > upper_bounds[i-1]; counts.back() (one more
// entry than upper_bounds) holds those above the last bound.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;  // the buckets' upper bounds, ascending
  std::vector<uint64_t> counts;      // observations per bucket (not cumulative)
  uint64_t count = 0;                // observations in all
  double sum = 0;                    // the sum of all observed values
};

// What EventStore::Stats() reports: counts since the store was opened, and its size now.
// Backends fill what they know and leave the rest 0.
struct StoreStats {
  uint64_t appends = 0;             // appends written (idempotent retries not counted)
  uint64_t events = 0;              // events written
  uint64_t conflicts = 0;           // appends refused with kWrongExpectedVersion
  uint64_t duplicates = 0;          // retries answered with the original result
  uint64_t commits = 0;             // group commits (transactions) written
  HistogramSnapshot batch_appends;  // appends per group commit
  HistogramSnapshot fsync_seconds;  // time of each fsync
  int64_t file_bytes = 0;           // on-disk size of the store's files
};

}  // namespace evs
