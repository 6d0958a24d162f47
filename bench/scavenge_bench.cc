// `evs-bench scavenge`: durable appends while a scavenge runs, vs the same appends without one.
//
// A store holds --scavenge-events events of ~500 bytes in 100 streams, all deleted for good.
// Writer threads (--writers' largest value, at most 16) append one event at a time to their own
// streams, durably:
//
//   system "no-scavenge"  nothing else runs (the baseline)
//   system "evs"          Store::Scavenge runs meanwhile, reclaiming the deleted events
//
// The evs row reports how long the scavenge took, the longest step it held writers for, and the
// file before and after; its append latencies (p99, max) show what writers waited.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "bench.h"
#include "engines.h"
#include "evs/event_store.h"
#include "report.h"

namespace evs::bench {
namespace {

constexpr int kDeletedStreams = 100;
constexpr size_t kEventBytes = 500;

Status Fill(EventStore& store, int64_t events) {
  const int64_t per_stream = std::max<int64_t>(1, events / kDeletedStreams);
  const std::string pad(kEventBytes, 'x');
  for (int s = 0; s < kDeletedStreams; ++s) {
    const std::string stream = "deleted-" + std::to_string(s);
    for (int64_t done = 0; done < per_stream;) {
      const int64_t n = std::min<int64_t>(1000, per_stream - done);
      std::vector<EventData> batch(static_cast<size_t>(n));
      for (auto& e : batch) {
        e.type = "Reading";
        e.data = "{\"pad\":\"" + pad + "\"}";
      }
      auto r = store.Append(stream, ExpectedVersion::Any(), std::move(batch));
      if (!r.ok()) return r.error();
      done += n;
    }
    if (auto s2 = store.DeleteStream(stream, DeleteMode::kHard); !s2) return s2;
  }
  return OkStatus();
}

Row Appends(EventStore& store, const BenchOptions& options, int writers, const std::string& tag) {
  TimedRunOptions run;
  run.threads = writers;
  run.seconds = options.seconds;
  run.warmup_seconds = options.warmup_seconds;
  return RunTimed(run, [&store, tag](int thread) -> Worker {
    const std::string stream = "live-" + tag + "-" + std::to_string(thread);
    return [&store, stream]() -> Status {
      std::vector<EventData> one(1);
      one[0].type = "Tick";
      one[0].data = "{}";
      auto r = store.Append(stream, ExpectedVersion::Any(), std::move(one));
      return r.ok() ? OkStatus() : Status(r.error());
    };
  });
}

}  // namespace

Status RunScavengeBench(const BenchOptions& options, Reporter& reporter) {
  const std::string folder = options.dir + "/scavenge";
  const int writers =
      std::min(16, *std::max_element(options.writers.begin(), options.writers.end()));
  {
    auto store = OpenDefaultStore(folder, /*durable=*/false);  // filling is not measured
    if (!store.ok()) return store.error();
    std::fprintf(stderr, "scavenge: filling %lld deleted events...\n",
                 static_cast<long long>(options.scavenge_events));
    if (auto s = Fill(**store, options.scavenge_events); !s) return s;
  }
  auto store = OpenDefaultStore(folder, /*durable=*/true);
  if (!store.ok()) return store.error();

  std::fprintf(stderr, "scavenge: no-scavenge...\n");
  Row baseline = Appends(**store, options, writers, "baseline");
  std::fprintf(stderr, "scavenge: evs (appends while scavenging)...\n");
  auto scavenging = std::async(std::launch::async, [&] { return (*store)->Scavenge(); });
  Row evs = Appends(**store, options, writers, "evs");
  auto report = scavenging.get();
  if (!report.ok()) return report.error();
  for (Row* row : {&baseline, &evs}) {
    row->bench = "scavenge";
    row->concurrency_name = "writers";
    row->concurrency = writers;
    row->extra["deleted_events"] = options.scavenge_events;
  }
  baseline.system = "no-scavenge";
  evs.system = "evs";
  evs.extra["events_scavenged"] = report->events_scavenged;
  evs.extra["scavenge_seconds"] = report->seconds;
  evs.extra["longest_step_ms"] = report->longest_step_ms;
  evs.extra["file_bytes_before"] = report->file_bytes_before;
  evs.extra["file_bytes_after"] = report->file_bytes_after;
  if (report->seconds < options.warmup_seconds + options.seconds) {
    evs.note = "the scavenge (" + std::to_string(report->seconds) +
               " s) ended before the measured interval did; raise --scavenge-events";
  }
  SetRatio(baseline, baseline);
  SetRatio(evs, baseline);
  reporter.Add(baseline);
  reporter.Add(evs);
  store->reset();
  std::error_code ignored;
  std::filesystem::remove_all(folder, ignored);
  return OkStatus();
}

}  // namespace evs::bench
