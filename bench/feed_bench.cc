// `evs-bench feed`: the change feed (evs::Subscription over each embedded engine, engines.h).
//
//   feed_catchup  A fresh durable store is filled with --events small events (~100 bytes of
//                 JSON data, over 10,000 streams; the fill is not measured: it appends 20 events
//                 per append from 8 threads to a non-durable store, fsyncs the file and reopens
//                 it durable). Then, per --batch-sizes entry, a Subscription with a trivial
//                 handler (counts events, checks that positions are consecutive) runs from
//                 position 0 until it has handled the head (WaitUntil); events/s over that time,
//                 including the subscription's start and its checkpoint saves (a fresh checkpoint
//                 store each time). p50/p99 of these rows are the time from one Handle() call's
//                 return to the next call, i.e. one page read (the subscription's LogReader)
//                 plus a checkpoint save when one is due (while catching up, every
//                 catch_up_checkpoint_interval, default 100 ms; subscription.h).
//
//                 Baseline "sqlite-scan": one SELECT of every column of `events` ordered by
//                 position, on a read-only connection (NOMUTEX, as evs's read connections) with
//                 the store's mmap setting, stepping each row and copying its text columns into
//                 std::strings (a fresh row struct per row, kept in 512-row batches), positions
//                 checked as by the handler. It skips what the feed adds: the join with
//                 `streams`, UUID parsing, pages, checkpoints, the thread hand-off.
//
//                 The scan and each batch size run kCatchUpRounds times, alternating, and each
//                 row reports its best round (all rounds are in the JSON's rounds_ops_per_s):
//                 other load on a small shared machine moves single passes of a second by tens
//                 of percent.
//
//   feed_projection  A fresh durable store of --projection-events cart events (6 per cart:
//                 CartOpened, 3 ItemAdded, ItemRemoved, CartCheckedOut; filled as above), then
//                 the cart-summary projection (app/cart, through a ProjectionRunner with the
//                 cart's upcaster, batch_size 512, as `evs serve` runs it) into a fresh read
//                 model from position 0 until it has applied the head: events/s over that time,
//                 including the runner's open. Baseline "feed": a Subscription with the trivial
//                 handler above over the same log, so the ratio is what the read model's writes
//                 cost. kCatchUpRounds rounds, alternating, best of each.
//
//   feed_live     A fresh durable store, a Subscription started at position 0 (live), and
//                 --feed-writers threads that append one event per append (durable, each writer
//                 on its own streams) for --warmup + --seconds. Every event's data carries the
//                 writer's steady-clock time just before its Append call, whether that call
//                 started in the measured interval, and the writer and append number; the
//                 handler parses them out. p50/p99 are append-call-to-handler latency (includes
//                 the group commit and its fsync). The note and JSON add:
//                   commit -> handler: the handler's system clock minus the store's
//                     recorded_at_us, which is stamped when the commit batch starts writing, so
//                     it still includes the batch's inserts and fsync;
//                   append call -> ack: the writers' own Append latency;
//                   ack -> handler: the handler's time minus the time that writer's Append
//                     returned (negative when the handler was first): the feed's own delay.
//                 ops/s counts the measured interval's events that reached the handler (which
//                 must be all that were acknowledged).
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "bench.h"
#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "engines.h"
#include "evs/event_store.h"
#include "evs/projection.h"
#include "evs/subscription.h"
#include "evs/uuid.h"
#include "report.h"

namespace evs::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kEventType = "ItemAdded";
constexpr size_t kEventDataBytes = 100;
constexpr int64_t kFillStreams = 10000;
constexpr int64_t kFillEventsPerAppend = 20;
constexpr int kFillThreads = 8;
constexpr size_t kScanBatch = 512;
constexpr int64_t kEventsPerCart = 6;
constexpr int64_t kCartItemNames = 50;
constexpr int kProjectionBatchSize = 512;
constexpr int kCatchUpRounds = 2;
constexpr int kLiveStreamsPerWriter = 10;
constexpr auto kCatchUpTimeout = std::chrono::minutes(10);
constexpr auto kDrainTimeout = std::chrono::seconds(30);

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

int64_t SystemMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Round2(double value) { return std::round(value * 100) / 100; }

// An ItemAdded-like JSON object of kEventDataBytes bytes.
std::string FillData() {
  nlohmann::json data = {
      {"sku", "SKU-10042"}, {"quantity", 2}, {"unit_price_cents", 1899}, {"name", ""}};
  const size_t frame = data.dump().size();
  std::string name = "Organic whole-bean coffee, light roast, 1 kg, lot ";
  while (frame + name.size() < kEventDataBytes) name.push_back('x');
  name.resize(kEventDataBytes - frame);
  data["name"] = name;
  return data.dump();
}

// ---- the fill --------------------------------------------------------------------------------

// Fills a fresh store of `engine` in `folder` with `appends` appends (expected version any), the
// i-th made by `make(i)`, from kFillThreads threads, not durable (the files are the same either
// way; only reads are measured); the log must end at position `events`.
using MakeAppend = std::function<Result<std::pair<std::string, std::vector<EventData>>>(int64_t)>;
Status FillWith(const BenchEngine& engine, const std::string& folder, int64_t appends,
                int64_t events, const MakeAppend& make) {
  std::error_code ignored;
  std::filesystem::create_directories(folder, ignored);
  auto store = engine.open(folder, /*durable=*/false);
  if (!store.ok()) return store.error();
  EventStore& s = **store;

  std::atomic<int64_t> next{0};
  std::mutex error_mu;
  std::optional<Error> error;
  std::vector<std::thread> pool;
  for (int t = 0; t < kFillThreads; ++t) {
    pool.emplace_back([&] {
      for (int64_t i; (i = next.fetch_add(1)) < appends;) {
        auto append = make(i);
        // Any: two threads may append to the same stream at once.
        Status result = append.ok() ? Status(OkStatus()) : Status(append.error());
        if (result.ok()) {
          auto appended =
              s.Append(append->first, ExpectedVersion::Any(), std::move(append->second));
          if (!appended.ok()) result = appended.error();
        }
        if (!result.ok()) {
          std::lock_guard guard(error_mu);
          if (!error) error = result.error();
          next.store(appends);
          return;
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  if (error) return *error;
  auto head = s.HeadPosition();
  if (!head.ok()) return head.error();
  if (*head != events) {
    return Error::Make(
        ErrorCode::kCorruption,
        "the fill ended at position " + std::to_string(*head) + ", not " + std::to_string(events));
  }
  return OkStatus();
}

// Appends `events` events to a fresh store of `engine` in `folder`: kFillEventsPerAppend per
// append, the appends spread round-robin over kFillStreams streams.
Status Fill(const BenchEngine& engine, const std::string& folder, int64_t events) {
  const int64_t appends = (events + kFillEventsPerAppend - 1) / kFillEventsPerAppend;
  const int64_t stream_count = std::min(kFillStreams, std::max<int64_t>(appends, 1));
  std::vector<std::string> streams;
  streams.reserve(static_cast<size_t>(stream_count));
  for (int64_t i = 0; i < stream_count; ++i) streams.push_back("item-" + Uuid::Random().ToString());
  const std::string data = FillData();
  return FillWith(engine, folder, appends, events, [&](int64_t i) {
    const int64_t count = std::min(kFillEventsPerAppend, events - i * kFillEventsPerAppend);
    std::vector<EventData> batch(static_cast<size_t>(count));
    for (EventData& e : batch) {
      e.id = Uuid::Random();
      e.type = kEventType;
      e.data = data;
    }
    return std::make_pair(streams[static_cast<size_t>(i % stream_count)], std::move(batch));
  });
}

// Appends `carts` carts of kEventsPerCart events to a fresh store of `engine` in `folder`, one
// append each.
Status FillCarts(const BenchEngine& engine, const std::string& folder, int64_t carts) {
  return FillWith(engine, folder, carts, carts * kEventsPerCart,
                  [](int64_t i) -> Result<std::pair<std::string, std::vector<EventData>>> {
                    auto item = [&](int64_t k) {
                      return "item-" + std::to_string((i * 7 + k * 13) % kCartItemNames);
                    };
                    const std::vector<cart::CartEvents::Event> events = {
                        cart::CartOpened{},
                        cart::ItemAdded{item(0), 2, cart::Price{1899, "USD"}},
                        cart::ItemAdded{item(1), 1, cart::Price{250, "USD"}},
                        cart::ItemAdded{item(2), 3, cart::Price{99, "USD"}},
                        cart::ItemRemoved{item(1), 1},
                        cart::CartCheckedOut{}};
                    std::vector<EventData> batch;
                    for (const auto& event : events) {
                      auto encoded = cart::CartEvents::Encode(event);
                      if (!encoded.ok()) return encoded.error();
                      batch.push_back(std::move(encoded).value());
                    }
                    return std::make_pair(
                        std::string(cart::Cart::kCategory) + "-" + Uuid::Random().ToString(),
                        std::move(batch));
                  });
}

// ---- catch-up through a subscription --------------------------------------------------------

// Counts events and checks that positions are consecutive from 1. A gap is recorded, not
// returned: an error would make the subscription retry and park.
class CountingHandler final : public EventHandler {
 public:
  Status Handle(std::span<const RecordedEvent> batch) override {
    const Clock::time_point start = Clock::now();
    if (batches_ > 0) {
      gaps_.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(start - last_return_).count());
    }
    ++batches_;
    for (const RecordedEvent& e : batch) {
      if (e.position != next_ && !mismatch_) {
        mismatch_ =
            "expected position " + std::to_string(next_) + ", got " + std::to_string(e.position);
      }
      next_ = e.position + 1;
      data_bytes_ += static_cast<int64_t>(e.data.size());
      ++count_;
    }
    last_return_ = Clock::now();
    handler_time_ += last_return_ - start;
    return OkStatus();
  }

  int64_t count_ = 0;
  int64_t batches_ = 0;
  int64_t data_bytes_ = 0;
  int64_t next_ = 1;
  std::optional<std::string> mismatch_;
  Clock::duration handler_time_{};
  Clock::time_point last_return_;
  std::vector<int64_t> gaps_;  // nanoseconds between one Handle's return and the next call
};

Result<Row> RunCatchUp(EventStore& store, const std::string& checkpoints_path, int64_t events,
                       int batch_size) {
  auto checkpoints = OpenSqliteCheckpointStore(checkpoints_path);
  if (!checkpoints.ok()) return checkpoints.error();
  auto head = store.HeadPosition();
  if (!head.ok()) return head.error();

  CountingHandler handler;
  handler.gaps_.reserve(static_cast<size_t>(events / std::max(batch_size, 1) + 2));
  SubscriptionOptions sub_options;
  sub_options.name = "feed-catchup-" + std::to_string(batch_size);
  sub_options.batch_size = static_cast<size_t>(batch_size);

  const Clock::time_point start = Clock::now();
  auto sub = Subscription::Start(store, **checkpoints, handler, sub_options);
  if (!sub.ok()) return sub.error();
  const bool reached = (*sub)->WaitUntil(*head, kCatchUpTimeout);
  const Clock::time_point end = Clock::now();
  const SubscriptionStatus status = (*sub)->GetStatus();
  (*sub)->Stop();
  sub->reset();  // joins its thread: the handler's fields are ours from here on

  if (!reached) {
    return Error::Make(ErrorCode::kUnavailable,
                       "the subscription did not reach position " + std::to_string(*head) +
                           " (state " + StateName(status.state) + ", checkpoint " +
                           std::to_string(status.checkpoint) + ": " + status.error + ")");
  }
  if (handler.mismatch_) return Error::Make(ErrorCode::kCorruption, *handler.mismatch_);
  if (handler.count_ != events) {
    return Error::Make(ErrorCode::kCorruption, "the handler saw " + std::to_string(handler.count_) +
                                                   " events, not " + std::to_string(events));
  }

  Row row;
  row.system = "evs";
  row.ops = handler.count_;
  row.seconds = Seconds(end - start);
  row.ops_per_s = static_cast<double>(row.ops) / row.seconds;
  row.latency = ComputeLatencyStats(handler.gaps_);
  const double handler_s = Seconds(handler.handler_time_);
  row.extra["batch_size"] = batch_size;
  row.extra["batches"] = handler.batches_;
  row.extra["handler_seconds"] = std::round(handler_s * 1000) / 1000;
  row.extra["latency_is"] =
      "time between batches (one page read + a checkpoint save when one is due)";
  char note[96];
  std::snprintf(note, sizeof(note), "batch_size=%d, %lld batches; p50/p99: time between batches",
                batch_size, static_cast<long long>(handler.batches_));
  row.note = note;
  return row;
}

// ---- the cart-summary projection ------------------------------------------------------------

// The cart-summary projection from position 0 into a fresh read model at `read_model_path`,
// until it has applied the head; checks that every cart got its row.
Result<Row> RunProjection(EventStore& store, const std::string& read_model_path, int64_t carts) {
  auto head = store.HeadPosition();
  if (!head.ok()) return head.error();
  cart::CartSummaryProjection projection;
  ProjectionOptions options;
  options.path = read_model_path;
  options.batch_size = kProjectionBatchSize;
  options.upcaster = cart::CartUpcaster();

  const Clock::time_point start = Clock::now();
  auto runner = ProjectionRunner::Open(store, projection, options);
  if (!runner.ok()) return runner.error();
  if (auto s = (*runner)->Start(); !s.ok()) return s.error();
  const bool reached = (*runner)->WaitUntil(*head, kCatchUpTimeout);
  const Clock::time_point end = Clock::now();
  const SubscriptionStatus status = (*runner)->GetStatus();
  runner->reset();
  if (!reached) {
    return Error::Make(ErrorCode::kUnavailable,
                       "the projection did not reach position " + std::to_string(*head) +
                           " (state " + StateName(status.state) + ", checkpoint " +
                           std::to_string(status.checkpoint) + ": " + status.error + ")");
  }

  sqlite3* db = nullptr;
  sqlite3_stmt* stmt = nullptr;
  int64_t checked_out = -1;
  if (sqlite3_open_v2(read_model_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db,
                         "SELECT count(*) FROM cart_summaries WHERE status = 'checked_out' AND "
                         "item_count = 5 AND total_cents = 2 * 1899 + 3 * 99",
                         -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    checked_out = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  if (checked_out != carts) {
    return Error::Make(ErrorCode::kCorruption, "the read model holds " +
                                                   std::to_string(checked_out) + " carts, not " +
                                                   std::to_string(carts));
  }

  Row row;
  row.system = "evs";
  row.ops = *head;
  row.seconds = Seconds(end - start);
  row.ops_per_s = static_cast<double>(row.ops) / row.seconds;
  row.extra["batch_size"] = kProjectionBatchSize;
  row.extra["carts"] = carts;
  row.note = "cart-summary projection (ProjectionRunner, cart upcaster), batch_size " +
             std::to_string(kProjectionBatchSize);
  return row;
}

// ---- the raw scan baseline ---------------------------------------------------------------------

struct ScannedRow {
  int64_t position = 0;
  int64_t stream_no = 0;
  int64_t version = 0;
  std::string event_id, type, data, metadata;
  int64_t recorded_at_us = 0;
};

std::string Text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
}

Result<Row> RunScan(const std::string& path, int64_t events) {
  const Clock::time_point start = Clock::now();
  sqlite3* db = nullptr;
  sqlite3_stmt* stmt = nullptr;
  auto fail = [&](const std::string& what) -> Error {
    Error e = Error::Make(ErrorCode::kIOError,
                          what + " " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
    if (stmt != nullptr) sqlite3_finalize(stmt);
    if (db != nullptr) sqlite3_close(db);
    return e;
  };
  // NOMUTEX, as evs's own read connections: one thread uses the connection.
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
          SQLITE_OK ||
      sqlite3_exec(db, "PRAGMA mmap_size = 268435456", nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "SELECT position, stream_no, version, event_id, type, data, metadata, "
                         "recorded_at_us FROM events ORDER BY position",
                         -1, &stmt, nullptr) != SQLITE_OK) {
    return fail("cannot open for the scan");
  }
  std::vector<ScannedRow> batch;
  batch.reserve(kScanBatch);
  int64_t rows = 0, next = 1, data_bytes = 0;
  std::optional<std::string> mismatch;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    ScannedRow r;
    r.position = sqlite3_column_int64(stmt, 0);
    r.stream_no = sqlite3_column_int64(stmt, 1);
    r.version = sqlite3_column_int64(stmt, 2);
    r.event_id = Text(stmt, 3);
    r.type = Text(stmt, 4);
    r.data = Text(stmt, 5);
    r.metadata = Text(stmt, 6);
    r.recorded_at_us = sqlite3_column_int64(stmt, 7);
    if (r.position != next && !mismatch) {
      mismatch =
          "scan: expected position " + std::to_string(next) + ", got " + std::to_string(r.position);
    }
    next = r.position + 1;
    data_bytes += static_cast<int64_t>(r.data.size());
    ++rows;
    batch.push_back(std::move(r));
    if (batch.size() == kScanBatch) batch.clear();
  }
  if (rc != SQLITE_DONE) return fail("scan failed on");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  const Clock::time_point end = Clock::now();
  if (mismatch) return Error::Make(ErrorCode::kCorruption, *mismatch);
  if (rows != events) {
    return Error::Make(ErrorCode::kCorruption, "the scan found " + std::to_string(rows) +
                                                   " rows, not " + std::to_string(events));
  }
  Row row;
  row.system = "sqlite-scan";
  row.ops = rows;
  row.seconds = Seconds(end - start);
  row.ops_per_s = static_cast<double>(rows) / row.seconds;
  row.note = "one SELECT * FROM events ORDER BY position";
  return row;
}

// ---- live: commit-to-handler latency ---------------------------------------------------------

enum Phase : int { kWarmup, kMeasure, kStop };

// The data of one live event: the writer's steady-clock nanoseconds just before its Append call,
// whether that call started in the measured interval, the writer and its append number, padded
// to kEventDataBytes.
std::string LiveData(int64_t sent_ns, bool measured, int writer, int64_t seq) {
  char buf[kEventDataBytes + 1];
  int n = std::snprintf(buf, sizeof(buf), R"({"sent_ns":%lld,"m":%d,"w":%d,"n":%lld,"pad":")",
                        static_cast<long long>(sent_ns), measured ? 1 : 0, writer,
                        static_cast<long long>(seq));
  std::string data(buf, static_cast<size_t>(n));
  while (data.size() + 2 < kEventDataBytes) data.push_back('x');
  data += "\"}";
  return data;
}

struct LiveFields {
  int64_t sent_ns = 0;
  int64_t measured = 0;
  int64_t writer = 0;
  int64_t seq = 0;
};

// Parses `"key":<integer>` after the '{' or ',' at the front of `rest`, and moves `rest` past it.
bool TakeField(std::string_view& rest, std::string_view key, int64_t& value) {
  if (rest.size() < key.size() + 4 || (rest[0] != '{' && rest[0] != ',') || rest[1] != '"' ||
      rest.substr(2, key.size()) != key || rest.substr(2 + key.size(), 2) != "\":") {
    return false;
  }
  const char* begin = rest.data() + key.size() + 4;
  const char* end = rest.data() + rest.size();
  auto parsed = std::from_chars(begin, end, value);
  if (parsed.ec != std::errc()) return false;
  rest = std::string_view(parsed.ptr, static_cast<size_t>(end - parsed.ptr));
  return true;
}

// Parses LiveData(); false when `data` is not one.
bool ParseLiveData(std::string_view data, LiveFields& f) {
  return TakeField(data, "sent_ns", f.sent_ns) && TakeField(data, "m", f.measured) &&
         TakeField(data, "w", f.writer) && TakeField(data, "n", f.seq);
}

// One measured event as the handler saw it.
struct Handled {
  int64_t writer = 0;
  int64_t seq = 0;
  int64_t handled_ns = 0;         // steady clock
  int64_t send_to_handler = 0;    // nanoseconds
  int64_t commit_to_handler = 0;  // nanoseconds (microsecond resolution)
};

class LatencyHandler final : public EventHandler {
 public:
  LatencyHandler() { handled_.reserve(1 << 20); }

  Status Handle(std::span<const RecordedEvent> batch) override {
    const int64_t now_ns = SteadyNanos();
    const int64_t now_us = SystemMicros();
    for (const RecordedEvent& e : batch) {
      if (e.position != next_ && !problem_) {
        problem_ =
            "expected position " + std::to_string(next_) + ", got " + std::to_string(e.position);
      }
      next_ = e.position + 1;
      LiveFields f;
      if (!ParseLiveData(e.data, f)) {
        if (!problem_) problem_ = "unparsable data at position " + std::to_string(e.position);
        continue;
      }
      if (f.measured != 1) continue;
      handled_.push_back(
          Handled{f.writer, f.seq, now_ns, now_ns - f.sent_ns, (now_us - e.recorded_at_us) * 1000});
    }
    return OkStatus();
  }

  int64_t next_ = 1;
  std::optional<std::string> problem_;
  std::vector<Handled> handled_;  // measured events only
};

struct LiveWriter {
  std::vector<std::string> streams;
  std::vector<int64_t> versions;
  std::vector<int64_t> append_nanos;  // measured appends that succeeded
  std::vector<int64_t> acked_ns;      // steady-clock time of each append's return, by number
  int64_t errors = 0;                 // measured appends that failed
  std::optional<Error> first_error;
};

Result<Row> RunLive(const BenchOptions& options, const BenchEngine& engine, int writers) {
  const std::string folder = options.dir + "/feed-live-" + engine.name;
  const std::string checkpoints_path = options.dir + "/feed-live-checkpoints.sqlite";
  std::error_code ignored;
  std::filesystem::create_directories(folder, ignored);
  Row row;
  {
    auto store = engine.open(folder, /*durable=*/true);
    if (!store.ok()) return store.error();
    EventStore& s = **store;
    auto checkpoints = OpenSqliteCheckpointStore(checkpoints_path);
    if (!checkpoints.ok()) return checkpoints.error();

    LatencyHandler handler;
    SubscriptionOptions sub_options;
    sub_options.name = "feed-live";
    auto sub = Subscription::Start(s, **checkpoints, handler, sub_options);
    if (!sub.ok()) return sub.error();

    std::vector<LiveWriter> state(static_cast<size_t>(writers));
    for (int w = 0; w < writers; ++w) {
      LiveWriter& mine = state[static_cast<size_t>(w)];
      for (int i = 0; i < kLiveStreamsPerWriter; ++i) {
        mine.streams.push_back("live-" + Uuid::Random().ToString());
        mine.versions.push_back(0);
      }
      mine.append_nanos.reserve(1 << 14);
      mine.acked_ns.reserve(1 << 14);
    }
    std::atomic<int> phase{kWarmup};
    std::vector<std::thread> pool;
    for (int w = 0; w < writers; ++w) {
      pool.emplace_back([&, w] {
        LiveWriter& mine = state[static_cast<size_t>(w)];
        for (size_t n = 0;; ++n) {
          const int started_in = phase.load(std::memory_order_acquire);
          if (started_in == kStop) break;
          const size_t k = n % mine.streams.size();
          std::vector<EventData> events(1);
          events[0].id = Uuid::Random();
          events[0].type = kEventType;
          const int64_t sent_ns = SteadyNanos();
          events[0].data = LiveData(sent_ns, started_in == kMeasure, w, static_cast<int64_t>(n));
          auto result = s.Append(mine.streams[k], ExpectedVersion::Exact(mine.versions[k]),
                                 std::move(events));
          const int64_t done_ns = SteadyNanos();
          mine.acked_ns.push_back(done_ns);
          if (result.ok()) {
            mine.versions[k] = result->last_version;
            if (started_in == kMeasure) mine.append_nanos.push_back(done_ns - sent_ns);
          } else if (started_in == kMeasure) {
            ++mine.errors;
            if (!mine.first_error) mine.first_error = result.error();
          }
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(options.warmup_seconds));
    const Clock::time_point measure_start = Clock::now();
    phase.store(kMeasure, std::memory_order_release);
    std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
    const Clock::time_point measure_end = Clock::now();
    phase.store(kStop, std::memory_order_release);
    for (auto& thread : pool) thread.join();

    auto head = s.HeadPosition();
    if (!head.ok()) return head.error();
    const bool drained = (*sub)->WaitUntil(*head, kDrainTimeout);
    const SubscriptionStatus status = (*sub)->GetStatus();
    (*sub)->Stop();
    sub->reset();  // joins its thread: the handler's fields are ours from here on
    if (!drained) {
      return Error::Make(ErrorCode::kUnavailable,
                         "the subscription did not reach position " + std::to_string(*head) +
                             " (state " + StateName(status.state) + ", checkpoint " +
                             std::to_string(status.checkpoint) + ": " + status.error + ")");
    }
    if (handler.problem_) return Error::Make(ErrorCode::kCorruption, *handler.problem_);

    std::vector<int64_t> append_nanos;
    int64_t errors = 0;
    std::optional<Error> first_error;
    for (LiveWriter& w : state) {
      append_nanos.insert(append_nanos.end(), w.append_nanos.begin(), w.append_nanos.end());
      errors += w.errors;
      if (!first_error && w.first_error) first_error = w.first_error;
    }
    const int64_t acknowledged = static_cast<int64_t>(append_nanos.size());
    const int64_t handled = static_cast<int64_t>(handler.handled_.size());
    // Failed appends may or may not have committed; every acknowledged one must be handled.
    if (handled < acknowledged || handled > acknowledged + errors) {
      return Error::Make(ErrorCode::kCorruption, "the handler saw " + std::to_string(handled) +
                                                     " measured events, but the writers had " +
                                                     std::to_string(acknowledged) +
                                                     " acknowledged and " + std::to_string(errors) +
                                                     " failed");
    }

    row.system = engine.system;
    row.ops = handled;
    row.errors = errors;
    row.seconds = Seconds(measure_end - measure_start);
    row.ops_per_s = static_cast<double>(handled) / row.seconds;
    std::vector<int64_t> send_to_handler, commit_to_handler, ack_to_handler;
    for (const Handled& h : handler.handled_) {
      send_to_handler.push_back(h.send_to_handler);
      commit_to_handler.push_back(h.commit_to_handler);
      if (h.writer < 0 || h.writer >= writers) continue;
      const auto& acked = state[static_cast<size_t>(h.writer)].acked_ns;
      if (h.seq >= 0 && h.seq < static_cast<int64_t>(acked.size())) {
        ack_to_handler.push_back(h.handled_ns - acked[static_cast<size_t>(h.seq)]);
      }
    }
    row.latency = ComputeLatencyStats(send_to_handler);
    const LatencyStats commit = ComputeLatencyStats(commit_to_handler);
    const LatencyStats ack = ComputeLatencyStats(ack_to_handler);
    const LatencyStats append = ComputeLatencyStats(append_nanos);
    row.extra["latency_is"] = "append call to handler";
    row.extra["commit_to_handler_p50_us"] = Round2(commit.p50_us);
    row.extra["commit_to_handler_p99_us"] = Round2(commit.p99_us);
    row.extra["commit_to_handler_max_us"] = Round2(commit.max_us);
    row.extra["append_ack_p50_us"] = Round2(append.p50_us);
    row.extra["append_ack_p99_us"] = Round2(append.p99_us);
    // Negative when the handler had the event before the writer's thread woke up.
    row.extra["ack_to_handler_p50_us"] = Round2(ack.p50_us);
    row.extra["ack_to_handler_p99_us"] = Round2(ack.p99_us);
    row.extra["durable"] = true;
    row.extra["events_per_append"] = 1;
    row.extra["batch_size"] = sub_options.batch_size;
    const StoreStats stats = s.Stats();
    if (stats.commits > 0) {
      row.extra["appends_per_commit"] =
          Round2(static_cast<double>(stats.appends) / static_cast<double>(stats.commits));
    }
    if (stats.fsync_seconds.count > 0) {
      row.extra["fsync_mean_us"] =
          Round2(stats.fsync_seconds.sum * 1e6 / static_cast<double>(stats.fsync_seconds.count));
    }
    char note[240];
    std::snprintf(note, sizeof(note),
                  "p50/p99: append call -> handler; commit (recorded_at_us) -> handler "
                  "%.0f/%.0f us; append call -> ack %.0f/%.0f us; ack -> handler %.0f/%.0f us",
                  commit.p50_us, commit.p99_us, append.p50_us, append.p99_us, ack.p50_us,
                  ack.p99_us);
    row.note = note;
    if (first_error) row.note += "; first error: " + first_error->message;
  }
  std::filesystem::remove_all(folder, ignored);
  RemoveDatabase(checkpoints_path);
  return row;
}

// The feed_projection rows: the projection and its "feed" baseline over one cart log,
// kCatchUpRounds rounds alternating, best of each.
Status RunProjectionRows(const BenchOptions& options, const BenchEngine& engine,
                         Reporter& reporter) {
  const int64_t carts = std::max<int64_t>(options.projection_events / kEventsPerCart, 1);
  const std::string folder = options.dir + "/feed-carts";
  std::fprintf(stderr, "feed: filling a store with %lld carts (%lld events)...\n",
               static_cast<long long>(carts), static_cast<long long>(carts * kEventsPerCart));
  if (auto s = FillCarts(engine, folder, carts); !s.ok()) return s;
  {
    auto store = engine.open(folder, /*durable=*/true);
    if (!store.ok()) return store.error();
    std::optional<Row> feed, projected;
    nlohmann::json feed_rounds = nlohmann::json::array(), rounds = nlohmann::json::array();
    for (int round = 1; round <= kCatchUpRounds; ++round) {
      std::fprintf(stderr, "feed: round %d: catch-up of the cart log...\n", round);
      const std::string checkpoints_path = options.dir + "/feed-checkpoints.sqlite";
      auto caught_up =
          RunCatchUp(**store, checkpoints_path, carts * kEventsPerCart, kProjectionBatchSize);
      RemoveDatabase(checkpoints_path);
      if (!caught_up.ok()) return caught_up.error();
      feed_rounds.push_back(std::round(caught_up->ops_per_s));
      if (!feed || caught_up->ops_per_s > feed->ops_per_s) feed = std::move(*caught_up);

      std::fprintf(stderr, "feed: round %d: cart-summary projection...\n", round);
      const std::string read_model_path = options.dir + "/feed-cart_summary.sqlite";
      auto row = RunProjection(**store, read_model_path, carts);
      RemoveDatabase(read_model_path);
      if (!row.ok()) return row.error();
      rounds.push_back(std::round(row->ops_per_s));
      if (!projected || row->ops_per_s > projected->ops_per_s) projected = std::move(*row);
    }
    char best_of[32];
    std::snprintf(best_of, sizeof(best_of), "best of %d; ", kCatchUpRounds);
    feed->bench = projected->bench = "feed_projection";
    feed->system = "feed";
    feed->extra["rounds_ops_per_s"] = feed_rounds;
    projected->extra["rounds_ops_per_s"] = rounds;
    feed->note = best_of + std::string("a Subscription with a trivial handler, same log");
    projected->note = best_of + projected->note;
    SetRatio(*feed, *feed);
    SetRatio(*projected, *feed);
    reporter.Add(*feed);
    reporter.Add(*projected);
  }
  std::error_code ignored;
  std::filesystem::remove_all(folder, ignored);
  return OkStatus();
}

}  // namespace

Status RunFeedBench(const BenchOptions& options, Reporter& reporter) {
  const int64_t events = options.feed_events;
  const std::vector<BenchEngine> engines = BenchEngines();
  // Each engine's store filled with the same events; the raw scan reads the SQLite engine's.
  struct Filled {
    const BenchEngine* engine;
    std::string folder;
    std::unique_ptr<EventStore> store;
  };
  std::vector<Filled> filled;
  std::string sqlite_file;
  for (const BenchEngine& engine : engines) {
    const std::string folder = options.dir + "/feed-catchup-" + engine.name;
    std::fprintf(stderr, "feed: filling a %s store with %lld events...\n", engine.name.c_str(),
                 static_cast<long long>(events));
    const Clock::time_point fill_start = Clock::now();
    if (auto s = Fill(engine, folder, events); !s.ok()) return s;
    // Written back before measuring, so that no row pays for the fill's dirty pages.
    ::sync();
    std::fprintf(stderr, "feed: filled in %.1f s\n", Seconds(Clock::now() - fill_start));
    auto store = engine.open(folder, /*durable=*/true);
    if (!store.ok()) return store.error();
    if (engine.sqlite_file) sqlite_file = engine.sqlite_file(folder);
    filled.push_back({&engine, folder, std::move(store).value()});
  }
  if (sqlite_file.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "feed: no SQLite engine for the raw scan");
  }

  // kCatchUpRounds rounds of the scan and of every engine and batch size, alternating, so that
  // a burst of other load on the machine does not fall on one system only; each row keeps its
  // best round.
  const size_t per_engine = options.batch_sizes.size();
  std::optional<Row> scan;
  std::vector<std::optional<Row>> best(filled.size() * per_engine);
  std::vector<nlohmann::json> rounds(best.size() + 1, nlohmann::json::array());
  auto keep = [](std::optional<Row>& kept, Row row, nlohmann::json& all) {
    all.push_back(std::round(row.ops_per_s));
    if (!kept || row.ops_per_s > kept->ops_per_s) kept = std::move(row);
  };
  for (int round = 1; round <= kCatchUpRounds; ++round) {
    std::fprintf(stderr, "feed: round %d: sqlite-scan of %lld events...\n", round,
                 static_cast<long long>(events));
    auto scanned = RunScan(sqlite_file, events);
    if (!scanned.ok()) return scanned.error();
    keep(scan, std::move(*scanned), rounds[0]);
    for (size_t e = 0; e < filled.size(); ++e) {
      for (size_t i = 0; i < per_engine; ++i) {
        const int batch_size = options.batch_sizes[i];
        std::fprintf(stderr, "feed: round %d: %s catch-up, batch_size %d...\n", round,
                     filled[e].engine->system.c_str(), batch_size);
        const std::string checkpoints_path = options.dir + "/feed-checkpoints.sqlite";
        auto evs = RunCatchUp(*filled[e].store, checkpoints_path, events, batch_size);
        RemoveDatabase(checkpoints_path);
        if (!evs.ok()) return evs.error();
        evs->system = filled[e].engine->system;
        keep(best[e * per_engine + i], std::move(*evs), rounds[e * per_engine + i + 1]);
      }
    }
  }
  char best_of[32];
  std::snprintf(best_of, sizeof(best_of), "best of %d; ", kCatchUpRounds);
  scan->bench = "feed_catchup";
  scan->extra["events"] = events;
  scan->extra["rounds_ops_per_s"] = rounds[0];
  scan->note = best_of + scan->note;
  SetRatio(*scan, *scan);
  reporter.Add(*scan);
  for (size_t i = 0; i < best.size(); ++i) {
    Row& evs = *best[i];
    evs.bench = "feed_catchup";
    evs.extra["events"] = events;
    evs.extra["rounds_ops_per_s"] = rounds[i + 1];
    evs.note = best_of + evs.note;
    SetRatio(evs, *scan);
    reporter.Add(evs);
  }
  for (Filled& f : filled) {
    f.store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(f.folder, ignored);
  }

  if (auto s = RunProjectionRows(options, engines.front(), reporter); !s.ok()) return s;

  for (const BenchEngine& engine : engines) {
    std::fprintf(stderr, "feed: %s live, %d writers...\n", engine.system.c_str(),
                 options.feed_writers);
    auto live = RunLive(options, engine, options.feed_writers);
    if (!live.ok()) return live.error();
    live->bench = "feed_live";
    live->concurrency_name = "writers";
    live->concurrency = options.feed_writers;
    reporter.Add(*live);
  }
  return OkStatus();
}

}  // namespace evs::bench
