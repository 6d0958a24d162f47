// `evs-bench open`: opening a store of --open-events events (default 10,000,000), the log engine
// (its recovery scan and the rebuild of its in-memory indexes) vs the SQLite store of the same
// events (loading its stream heads and recent ids): the time until the store takes appends.
//
// Both stores are filled the same way, without fsync (only opening is measured): appends of
// kEventsPerAppend events of ~100 bytes to kStreams streams in turn, many in flight through
// AppendAsync. Each row opens its store kOpens times (the files in the OS cache after the
// fill); ops_per_s is opens per second, the latencies those of the opens. The "evs" row (the log
// engine, the default store) opens from the index checkpoint written when the store was last
// closed; "evs-rebuild" removes it before each open, so that the whole log is scanned, checked and
// indexed; "evs-sqlite", the SQLite store, is the baseline.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bench.h"
#include "evs/event_store.h"
#include "evs/log_store.h"
#include "report.h"

namespace evs::bench {
namespace {

constexpr int kStreams = 100000;
constexpr int kEventsPerAppend = 10;
constexpr int kOpens = 3;
constexpr size_t kInFlight = 4096;

Status FillStore(EventStore& store, int64_t events, const char* name) {
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  std::optional<Error> failed;
  const std::string data =
      "{\"sku\":\"SKU-10001\",\"name\":\"stainless steel water bottle\",\"qty\":2}";
  const int64_t appends = (events + kEventsPerAppend - 1) / kEventsPerAppend;
  for (int64_t i = 0; i < appends; ++i) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < kInFlight; });
      if (failed) return *failed;
      ++in_flight;
    }
    std::vector<EventData> batch(kEventsPerAppend);
    for (auto& e : batch) {
      e.type = "ItemAdded";
      e.data = data;
    }
    store.AppendAsync("cart-" + std::to_string(i % kStreams), ExpectedVersion::Any(),
                      std::move(batch), [&](Result<AppendResult> r) {
                        std::lock_guard guard(mu);
                        if (!r.ok() && !failed) failed = r.error();
                        --in_flight;
                        cv.notify_all();
                      });
    if ((i + 1) % 100000 == 0) {
      std::fprintf(stderr, "\r  filling the %s store: %lld of %lld events", name,
                   static_cast<long long>((i + 1) * kEventsPerAppend),
                   static_cast<long long>(events));
    }
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  std::fprintf(stderr, "\n");
  if (failed) return *failed;
  return OkStatus();
}

using Opener = std::function<Result<std::unique_ptr<EventStore>>()>;

Result<Row> MeasureOpens(const std::string& system, const Opener& open, int64_t events) {
  std::vector<int64_t> nanos;
  int64_t head = 0, file_bytes = 0;
  for (int i = 0; i < kOpens; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto store = open();
    const auto end = std::chrono::steady_clock::now();
    if (!store.ok()) return store.error();
    nanos.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    head = *(*store)->HeadPosition();
    file_bytes = (*store)->Stats().file_bytes;
  }
  Row row;
  row.bench = "store_open";
  row.system = system;
  row.ops = kOpens;
  double total = 0;
  for (int64_t n : nanos) total += static_cast<double>(n) / 1e9;
  row.seconds = total;
  row.ops_per_s = kOpens / total;
  row.latency = ComputeLatencyStats(nanos);
  row.extra["events"] = events;
  row.extra["head_position"] = head;
  row.extra["file_bytes"] = file_bytes;
  row.note = std::to_string(head) + " events";
  return row;
}

}  // namespace

Status RunOpenBench(const BenchOptions& options, Reporter& reporter) {
  const int64_t events = options.open_events;
  SqliteStoreOptions sqlite;
  sqlite.path = options.dir + "/open.sqlite";
  LogStoreOptions log;
  log.folder = options.dir + "/open-log";
  {
    SqliteStoreOptions fill = sqlite;
    fill.durable = false;
    auto store = OpenSqliteEventStore(fill);
    if (!store.ok()) return store.error();
    if (auto s = FillStore(**store, events, "sqlite"); !s) return s;
  }
  {
    LogStoreOptions fill = log;
    fill.durable = false;
    auto store = OpenLogEventStore(fill);
    if (!store.ok()) return store.error();
    if (auto s = FillStore(**store, events, "log"); !s) return s;
  }
  auto baseline = MeasureOpens(
      "evs-sqlite", [&] { return OpenSqliteEventStore(sqlite); }, events);
  if (!baseline.ok()) return baseline.error();
  SetRatio(*baseline, *baseline);
  reporter.Add(*baseline);
  auto evs_log = MeasureOpens(
      "evs", [&] { return OpenLogEventStore(log); }, events);
  if (!evs_log.ok()) return evs_log.error();
  SetRatio(*evs_log, *baseline);
  evs_log->extra["index_checkpoint"] = true;
  reporter.Add(*evs_log);
  // Without the index checkpoint (as after a crash before any clean close): every record is
  // read, checked and indexed.
  const std::string index = log.folder + "/INDEX";
  auto rebuild = MeasureOpens(
      "evs-rebuild",
      [&] {
        std::error_code ignored;
        std::filesystem::remove(index, ignored);
        return OpenLogEventStore(log);
      },
      events);
  if (!rebuild.ok()) return rebuild.error();
  SetRatio(*rebuild, *baseline);
  rebuild->extra["index_checkpoint"] = false;
  reporter.Add(*rebuild);
  return OkStatus();
}

}  // namespace evs::bench
