// Shared machinery of evs-bench: a timed multi-threaded run with per-operation latencies, the
// row every benchmark reports, and the printer that shows rows as a table or as JSON lines.
//
// A benchmark builds one Row per configuration (system x concurrency), usually from
// RunTimed(), sets its ratio against the baseline row of the same run with SetRatio(), and hands
// it to a Reporter, which prints it at once (long runs show progress row by row).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "evs/status.h"

namespace evs::bench {

// Latency percentiles of one row, in microseconds.
struct LatencyStats {
  int64_t count = 0;
  double mean_us = 0;
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double p999_us = 0;
  double max_us = 0;
};

// Nearest-rank percentiles of `nanos` (reordered in place).
LatencyStats ComputeLatencyStats(std::vector<int64_t>& nanos);

struct Row {
  std::string bench;   // "append", "fetch_cold", "fetch_warm", ...
  std::string system;  // "evs", or the baseline's name ("sqlite-naive", ...)
  // The concurrency this row ran at, under the name that fits the bench ("writers" for
  // appends, "threads" for reads); an empty name means "does not apply".
  std::string concurrency_name;
  int concurrency = 0;

  int64_t ops = 0;     // successful operations in the measured interval
  int64_t errors = 0;  // failed operations started in the interval (not in ops or latencies)
  double seconds = 0;  // length of the measured interval
  double ops_per_s = 0;
  LatencyStats latency;

  // ops_per_s relative to the baseline row named by `baseline` (1.0 on the baseline itself).
  std::optional<double> ratio_to_baseline;
  std::string baseline;

  std::string note;      // shown in the table and as "note" in JSON; e.g. the first error
  nlohmann::json extra;  // more fields for the JSON line (an object, or null for none);
                         // add to it with extra["key"] = value, it may hold RunTimed()'s
};

// Sets row.ratio_to_baseline and row.baseline from `baseline` (same bench and concurrency).
// Call it on the baseline row itself too, so that it shows 1.00.
void SetRatio(Row& row, const Row& baseline);

// The JSON object of one row: bench, system, <concurrency_name>, ops_per_s, p50_us, p99_us,
// ratio_to_baseline and baseline when set, then the rest of the stats and `extra`.
nlohmann::ordered_json RowToJson(const Row& row);

// Prints rows as they come: a fixed-width table (with a header before the first row) or one
// JSON object per line. Not thread-safe; benchmarks report from the main thread.
class Reporter {
 public:
  explicit Reporter(bool json, FILE* out = stdout) : json_(json), out_(out) {}

  // A free-form line before the table (e.g. the machine and options); "# " is prepended.
  // Ignored in JSON mode, so that every output line is a row.
  void Comment(const std::string& text);
  void Add(const Row& row);

  const std::vector<Row>& rows() const { return rows_; }

 private:
  bool json_;
  FILE* out_;
  bool header_printed_ = false;
  std::vector<Row> rows_;
};

// One operation of a worker thread. An error counts against the row and is not timed.
using Worker = std::function<Status()>;
// Called once on each worker thread (index 0..threads-1) before the run starts, so that
// per-thread state (connections, stream lists) is made on the thread that uses it.
using WorkerFactory = std::function<Worker(int thread)>;

struct TimedRunOptions {
  int threads = 1;
  double warmup_seconds = 0.5;  // operations run but are not counted
  double seconds = 3;           // the measured interval
};

// The measured part of a Row. Threads run `warmup_seconds`, then the measured interval of
// `seconds`, then stop and drain. ops (and ops_per_s, thread_ops_min/max) count the successful
// operations that started and ended in the interval; the latencies are those of every successful
// operation that started in it, including the ones that ended while draining, so that long
// waits are not dropped (extra: latency_samples, drain_seconds). A note names starved threads
// (no operation completed in the interval) and the first error's message.
Row RunTimed(const TimedRunOptions& options, const WorkerFactory& factory);

}  // namespace evs::bench
