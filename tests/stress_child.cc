// The process that the stress test (tests/stress_test.cc) kills: writer threads append to their
// own streams (blocking and asynchronous appends), reader threads read streams back and a
// subscriber follows the global log, each checking what it sees against the oracle
// (stress_oracle.h), while a fault may be injected at a seeded moment.
//
//   evs_stress_child --engine sqlite|log --dir DIR --oracle FILE --seed N [--writers N] [--readers
//   N]
//                    [--appends-per-writer N] [--fault none|fsync|disk-full|short-write]
//                    [--fault-after-ms N]
//
// Exit status: 0 when every writer has made its appends; 10 when an injected fsync failure made
// the store refuse writes (as it must); 3 when a check failed ("STRESS-FAIL: ..." on stderr);
// 1 when the store does not open; 2 for bad arguments.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "fault_vfs.h"
#include "stress_engines.h"
#include "stress_oracle.h"

namespace evs::testing {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "STRESS-FAIL: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(3);
}

struct ChildOptions {
  std::string engine = "sqlite";
  std::string dir;
  std::string oracle;
  uint64_t seed = 1;
  int writers = 4;
  int readers = 2;
  int appends_per_writer = 5000;
  std::string fault = "none";
  int fault_after_ms = 0;
};

bool ParseArgs(int argc, char** argv, ChildOptions& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const std::string value = argv[i + 1];
    try {
      if (key == "--engine")
        o.engine = value;
      else if (key == "--dir")
        o.dir = value;
      else if (key == "--oracle")
        o.oracle = value;
      else if (key == "--seed")
        o.seed = std::stoull(value);
      else if (key == "--writers")
        o.writers = std::stoi(value);
      else if (key == "--readers")
        o.readers = std::stoi(value);
      else if (key == "--appends-per-writer")
        o.appends_per_writer = std::stoi(value);
      else if (key == "--fault")
        o.fault = value;
      else if (key == "--fault-after-ms")
        o.fault_after_ms = std::stoi(value);
      else
        return false;
    } catch (...) {
      return false;
    }
  }
  return argc % 2 == 1 && !o.dir.empty() && !o.oracle.empty() && o.writers >= 1 &&
         o.writers <= kStressStreams && o.readers >= 0 && o.appends_per_writer >= 0;
}

class StressChild {
 public:
  StressChild(ChildOptions options, EventStore& store, StressOracle& oracle, StressFaults& faults)
      : o_(std::move(options)), store_(store), oracle_(oracle), faults_(faults) {}

  int Run() {
    ResolveOracle();
    std::vector<std::thread> threads;
    for (int t = 0; t < o_.writers; ++t) threads.emplace_back([this, t] { Write(t); });
    for (int t = 0; t < o_.readers; ++t) threads.emplace_back([this, t] { Read(t); });
    threads.emplace_back([this] { Follow(); });
    std::thread fault;
    if (o_.fault != "none") fault = std::thread([this] { InjectFault(); });
    for (int t = 0; t < o_.writers; ++t) threads[static_cast<size_t>(t)].join();
    writers_done_ = true;
    for (size_t t = static_cast<size_t>(o_.writers); t < threads.size(); ++t) threads[t].join();
    if (fault.joinable()) fault.join();
    return refused_after_fsync_failure_ ? 10 : 0;
  }

 private:
  // The store is where the last run left it: each stream at a version in [acked, pending].
  void ResolveOracle() {
    for (int s = 0; s < kStressStreams; ++s) {
      auto version = store_.StreamVersion(StressStreamId(s));
      if (!version.ok()) Fail("StreamVersion: " + version.error().message);
      StressSlot& slot = oracle_.slot(s);
      if (*version < slot.acked || *version > slot.pending) {
        Fail(StressStreamId(s) + " is at version " + std::to_string(*version) + ", outside [" +
             std::to_string(slot.acked) + ", " + std::to_string(slot.pending) + "]");
      }
      slot.acked = *version;
      slot.pending = *version;
    }
  }

  void Write(int t) {
    std::mt19937_64 random(o_.seed * 1000003 + static_cast<uint64_t>(t));
    std::vector<int> mine;
    for (int s = t; s < kStressStreams; s += o_.writers) mine.push_back(s);
    for (int i = 0; i < o_.appends_per_writer && !stop_writes_; ++i) {
      const int s = mine[random() % mine.size()];
      StressSlot& slot = oracle_.slot(s);
      const int64_t from = slot.acked;
      const int count = 1 + static_cast<int>(random() % 4);
      std::vector<EventData> events;
      for (int k = 1; k <= count; ++k) events.push_back(StressEvent(s, from + k));
      slot.pending = from + count;  // before the append: it may land however we die
      Result<AppendResult> result = AppendOne(s, from, std::move(events), random() % 2 == 0);
      if (result.ok()) {
        if (result->first_version != from + 1 || result->last_version != from + count) {
          Fail(StressStreamId(s) + ": appended at " + std::to_string(result->first_version) + ".." +
               std::to_string(result->last_version) + ", want " + std::to_string(from + 1) + ".." +
               std::to_string(from + count));
        }
        slot.acked = from + count;
        continue;
      }
      if (!fault_armed_) Fail(StressStreamId(s) + ": append failed: " + result.error().message);
      if (o_.fault == "fsync") {
        // Writes are refused until the store is reopened; the outcome of this append is unknown
        // (pending stays raised) and the test checks it after the reopen.
        refused_after_fsync_failure_ = true;
        stop_writes_ = true;
        return;
      }
      if (result.error().code != ErrorCode::kIOError) {
        Fail(StressStreamId(s) + ": after a " + o_.fault + ": " + result.error().message);
      }
      // A full disk or a short write: nothing of the append was written, and the store takes
      // appends again once there is space.
      slot.pending = from;
      ClearFaults();
    }
  }

  Result<AppendResult> AppendOne(int s, int64_t from, std::vector<EventData> events, bool async) {
    if (!async) return store_.Append(StressStreamId(s), ExpectedVersion::Exact(from), events);
    std::promise<Result<AppendResult>> done;
    auto future = done.get_future();
    store_.AppendAsync(StressStreamId(s), ExpectedVersion::Exact(from), std::move(events),
                       [&done](Result<AppendResult> r) { done.set_value(std::move(r)); });
    return future.get();
  }

  // The newest events of random streams: contiguous, as StressEvent says, and the stream's
  // version within what the oracle allows.
  void Read(int t) {
    std::mt19937_64 random(o_.seed * 7919 + static_cast<uint64_t>(t));
    for (int i = 0; i < 1'000'000 && !writers_done_; ++i) {
      const int s = static_cast<int>(random() % kStressStreams);
      const int64_t acked_before = oracle_.slot(s).acked;
      ReadStreamOptions read{Direction::kBackward, 0, 50};
      auto page = store_.ReadStream(StressStreamId(s), read);
      const int64_t pending_after = oracle_.slot(s).pending;
      if (!page.ok()) {
        if (page.error().code == ErrorCode::kNotFound && acked_before == 0) continue;
        if (ReadMayFail(page.error())) return;
        Fail(StressStreamId(s) + ": read failed: " + page.error().message);
      }
      if (page->stream_version < acked_before || page->stream_version > pending_after) {
        Fail(StressStreamId(s) + ": read version " + std::to_string(page->stream_version) +
             " outside [" + std::to_string(acked_before) + ", " + std::to_string(pending_after) +
             "]");
      }
      int64_t want = page->stream_version;
      for (const RecordedEvent& e : page->events) {
        if (e.version != want--) Fail(e.stream_id + ": versions not contiguous backwards");
        if (auto bad = CheckStressEvent(e); !bad.empty()) Fail(bad);
      }
    }
  }

  // The global log from the start: dense positions, each stream's versions one after another.
  // Read through a LogReader into one page, as subscriptions read.
  void Follow() {
    std::vector<int64_t> seen(kStressStreams, 0);
    int64_t after = 0;
    auto reader = store_.NewLogReader();
    LogPage page;
    for (int i = 0; i < 10'000'000; ++i) {
      auto read = reader->Read(after, 512, page);
      if (!read.ok() && ReadMayFail(read.error())) return;
      if (!read.ok()) Fail("LogReader: " + read.error().message);
      for (const RecordedEvent& e : page.events) {
        if (e.position != after + 1) {
          Fail("the log skipped from " + std::to_string(after) + " to " +
               std::to_string(e.position));
        }
        after = e.position;
        if (auto bad = CheckStressEvent(e); !bad.empty()) Fail(bad);
        int64_t& last = seen[static_cast<size_t>(*StressStreamIndex(e.stream_id))];
        if (e.version != last + 1) {
          Fail(e.stream_id + ": the log has version " + std::to_string(e.version) + " after " +
               std::to_string(last));
        }
        last = e.version;
      }
      if (page.events.empty()) {
        if (writers_done_) return;
        auto head = store_.WaitForHead(after, std::chrono::milliseconds(100));
        if (!head.ok()) Fail("WaitForHead: " + head.error().message);
      }
    }
  }

  // A failed fsync that lost the file's unsynced pages (as a kernel may) can make reads fail
  // with kIOError or kCorruption until the store is reopened (event_store.h); nothing else may.
  bool ReadMayFail(const Error& error) const {
    return fault_armed_ && o_.fault == "fsync" &&
           (error.code == ErrorCode::kIOError || error.code == ErrorCode::kCorruption);
  }

  void InjectFault() {
    std::this_thread::sleep_for(std::chrono::milliseconds(o_.fault_after_ms));
    fault_armed_ = true;
    const auto budget = static_cast<int64_t>(o_.seed % 20000);
    if (faults_.vfs != nullptr) {
      if (o_.fault == "fsync") faults_.vfs->FailSyncs(1, kWal, /*lose_writes=*/true);
      if (o_.fault == "disk-full") faults_.vfs->DiskFullAfter(budget, kWal);
      if (o_.fault == "short-write") faults_.vfs->ShortWrites(1, SQLITE_FULL, kWal);
    }
    if (faults_.fs != nullptr) {
      if (o_.fault == "fsync") faults_.fs->FailFsyncs(1, FaultFileSystem::kFiles);
      if (o_.fault == "disk-full") faults_.fs->DiskFullAfter(budget);
      if (o_.fault == "short-write") faults_.fs->ShortWrites(1);
    }
  }

  void ClearFaults() {
    if (faults_.vfs != nullptr) faults_.vfs->Clear();
    if (faults_.fs != nullptr) faults_.fs->Clear();
  }

  const ChildOptions o_;
  EventStore& store_;
  StressOracle& oracle_;
  StressFaults& faults_;
  std::atomic<bool> fault_armed_{false};
  std::atomic<bool> stop_writes_{false};
  std::atomic<bool> writers_done_{false};
  std::atomic<bool> refused_after_fsync_failure_{false};
};

}  // namespace
}  // namespace evs::testing

int main(int argc, char** argv) {
  using namespace evs::testing;
  ChildOptions options;
  if (!ParseArgs(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: %s --engine sqlite|log --dir DIR --oracle FILE --seed N [--writers N] "
                 "[--readers N] [--appends-per-writer N] [--fault none|fsync|disk-full|"
                 "short-write] [--fault-after-ms N]\n",
                 argv[0]);
    return 2;
  }
  StressOracle oracle;
  if (!oracle.Open(options.oracle)) {
    std::fprintf(stderr, "cannot map the oracle %s\n", options.oracle.c_str());
    return 1;
  }
  FaultVfs vfs;
  StressFaults faults;
  if (options.engine == "sqlite") faults.vfs = &vfs;
  if (options.engine == "log") faults.fs = std::make_shared<FaultFileSystem>();
  auto store = OpenStressStore(options.engine, options.dir, &faults);
  if (!store.ok()) {
    std::fprintf(stderr, "cannot open the store: %s\n", store.error().message.c_str());
    return 1;
  }
  int status = StressChild(options, **store, oracle, faults).Run();
  // A store that refused writes after a failed fsync is left as a crash leaves it.
  if (status == 10) std::_Exit(10);
  store->reset();
  return status;
}
