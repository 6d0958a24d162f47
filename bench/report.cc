#include "report.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdint>
#include <latch>
#include <thread>

namespace evs::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// "1,234,567" for the integer part of `value`.
std::string Grouped(double value) {
  std::string digits = std::to_string(static_cast<int64_t>(std::llround(value)));
  std::string out;
  size_t lead = digits[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > lead && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// Microseconds with a precision that suits their size.
std::string Micros(double us) {
  char buf[32];
  if (us < 10) {
    std::snprintf(buf, sizeof(buf), "%.2f", us);
  } else if (us < 1000) {
    std::snprintf(buf, sizeof(buf), "%.1f", us);
  } else {
    return Grouped(us);
  }
  return buf;
}

double Round(double value, double scale) { return std::round(value * scale) / scale; }

constexpr const char* kTableFormat = "%-15s %-13s %-12s %13s %10s %10s %10s %8s  %s\n";

}  // namespace

LatencyStats ComputeLatencyStats(std::vector<int64_t>& nanos) {
  LatencyStats stats;
  stats.count = static_cast<int64_t>(nanos.size());
  if (nanos.empty()) return stats;
  std::sort(nanos.begin(), nanos.end());
  auto at = [&](double p) {
    // Nearest rank: the smallest value with at least p of the samples at or below it.
    size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(nanos.size())));
    return static_cast<double>(nanos[std::clamp<size_t>(rank, 1, nanos.size()) - 1]) / 1000.0;
  };
  long double sum = 0;
  for (int64_t n : nanos) sum += static_cast<long double>(n);
  stats.mean_us = static_cast<double>(sum / static_cast<long double>(nanos.size())) / 1000.0;
  stats.p50_us = at(0.50);
  stats.p90_us = at(0.90);
  stats.p99_us = at(0.99);
  stats.p999_us = at(0.999);
  stats.max_us = static_cast<double>(nanos.back()) / 1000.0;
  return stats;
}

void SetRatio(Row& row, const Row& baseline) {
  row.baseline = baseline.system;
  if (baseline.bench != row.bench) row.baseline = baseline.bench + "/" + baseline.system;
  if (baseline.ops_per_s > 0) row.ratio_to_baseline = row.ops_per_s / baseline.ops_per_s;
}

nlohmann::ordered_json RowToJson(const Row& row) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  j["bench"] = row.bench;
  j["system"] = row.system;
  if (!row.concurrency_name.empty()) j[row.concurrency_name] = row.concurrency;
  j["ops_per_s"] = Round(row.ops_per_s, 10);
  j["p50_us"] = Round(row.latency.p50_us, 100);
  j["p99_us"] = Round(row.latency.p99_us, 100);
  if (row.ratio_to_baseline) {
    j["ratio_to_baseline"] = Round(*row.ratio_to_baseline, 1000);
    j["baseline"] = row.baseline;
  }
  j["p90_us"] = Round(row.latency.p90_us, 100);
  j["p999_us"] = Round(row.latency.p999_us, 100);
  j["max_us"] = Round(row.latency.max_us, 100);
  j["mean_us"] = Round(row.latency.mean_us, 100);
  j["ops"] = row.ops;
  j["errors"] = row.errors;
  j["seconds"] = Round(row.seconds, 1000);
  if (!row.note.empty()) j["note"] = row.note;
  if (row.extra.is_object()) {
    for (auto& [key, value] : row.extra.items()) j[key] = value;
  }
  return j;
}

void Reporter::Comment(const std::string& text) {
  if (json_) return;
  std::fprintf(out_, "# %s\n", text.c_str());
  std::fflush(out_);
}

void Reporter::Add(const Row& row) {
  rows_.push_back(row);
  if (json_) {
    std::fprintf(out_, "%s\n", RowToJson(row).dump().c_str());
    std::fflush(out_);
    return;
  }
  if (!header_printed_) {
    std::fprintf(out_, kTableFormat, "bench", "system", "concurrency", "ops/s", "p50 us", "p99 us",
                 "max us", "ratio", "baseline / note");
    header_printed_ = true;
  }
  std::string concurrency = row.concurrency_name.empty()
                                ? "-"
                                : row.concurrency_name + "=" + std::to_string(row.concurrency);
  std::string ratio = "-";
  if (row.ratio_to_baseline) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2fx", *row.ratio_to_baseline);
    ratio = buf;
  }
  std::string tail = row.ratio_to_baseline ? "vs " + row.baseline : "";
  if (row.errors > 0) {
    tail += (tail.empty() ? "" : "; ") + std::to_string(row.errors) + " errors";
  }
  if (!row.note.empty()) tail += (tail.empty() ? "" : "; ") + row.note;
  std::fprintf(out_, kTableFormat, row.bench.c_str(), row.system.c_str(), concurrency.c_str(),
               Grouped(row.ops_per_s).c_str(), Micros(row.latency.p50_us).c_str(),
               Micros(row.latency.p99_us).c_str(), Micros(row.latency.max_us).c_str(),
               ratio.c_str(), tail.c_str());
  std::fflush(out_);
}

Row RunTimed(const TimedRunOptions& options, const WorkerFactory& factory) {
  enum Phase : int { kWarmup, kMeasure, kStop };
  struct PerThread {
    std::vector<int64_t> nanos;  // every successful operation started in the interval
    int64_t in_interval = 0;     // those of them that also ended in it
    int64_t errors = 0;
    std::optional<Error> first_error;
  };
  const int threads = std::max(1, options.threads);
  std::vector<PerThread> results(static_cast<size_t>(threads));
  std::atomic<int> phase{kWarmup};
  std::latch ready(threads + 1);

  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      PerThread& mine = results[static_cast<size_t>(t)];
      mine.nanos.reserve(1 << 16);
      Worker worker = factory(t);
      ready.arrive_and_wait();
      for (;;) {
        const int started_in = phase.load(std::memory_order_acquire);
        if (started_in == kStop) break;
        const Clock::time_point start = Clock::now();
        Status status = worker();
        const Clock::time_point end = Clock::now();
        if (started_in != kMeasure) continue;
        if (status.ok()) {
          mine.nanos.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
          if (phase.load(std::memory_order_acquire) == kMeasure) ++mine.in_interval;
        } else {
          ++mine.errors;
          if (!mine.first_error) mine.first_error = status.error();
        }
      }
    });
  }
  ready.arrive_and_wait();
  std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup_seconds));
  const Clock::time_point measure_start = Clock::now();
  phase.store(kMeasure, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
  const Clock::time_point measure_end = Clock::now();
  phase.store(kStop, std::memory_order_release);
  for (auto& thread : pool) thread.join();
  const Clock::time_point drained = Clock::now();

  Row row;
  std::vector<int64_t> all;
  size_t total = 0;
  for (const auto& r : results) total += r.nanos.size();
  all.reserve(total);
  // Fairness: a lock that lets some threads starve shows up here, not in the percentiles (a
  // starved thread contributes few, long samples, or none at all).
  int64_t min_thread_ops = INT64_MAX, max_thread_ops = 0, starved = 0;
  for (auto& r : results) {
    const int64_t n = r.in_interval;
    row.ops += n;
    min_thread_ops = std::min(min_thread_ops, n);
    max_thread_ops = std::max(max_thread_ops, n);
    if (n == 0) ++starved;
    all.insert(all.end(), r.nanos.begin(), r.nanos.end());
    row.errors += r.errors;
    if (r.first_error && row.note.empty()) {
      row.note = std::string("first error: ") + ErrorCodeName(r.first_error->code) + ": " +
                 r.first_error->message;
    }
    r.nanos = {};
  }
  row.seconds = Seconds(measure_end - measure_start);
  row.ops_per_s = row.seconds > 0 ? static_cast<double>(row.ops) / row.seconds : 0;
  row.latency = ComputeLatencyStats(all);
  row.extra = {{"thread_ops_min", min_thread_ops},
               {"thread_ops_max", max_thread_ops},
               {"latency_samples", row.latency.count},
               {"drain_seconds", Round(Seconds(drained - measure_end), 1000)}};
  if (starved > 0) {
    std::string starved_note = std::to_string(starved) + " of " + std::to_string(threads) +
                               " threads completed no operation";
    row.note = row.note.empty() ? starved_note : starved_note + "; " + row.note;
  }
  return row;
}

}  // namespace evs::bench
