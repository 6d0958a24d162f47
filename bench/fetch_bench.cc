// `evs-bench fetch`: Repository<cart::Cart>::Fetch of 21-event carts (CartOpened + 20
// ItemAdded), cold (cache disabled: read the stream, decode, apply) and warm (served from the
// aggregate cache), with the raw SQLite read of the same 21 rows as the baseline.
//
// The baseline ("sqlite-raw", reported under bench "fetch_cold") runs the store's own stream
// query on a read-only connection with the same mmap setting and copies the columns out, with
// no UUID parsing, no JSON decoding and no aggregate: the floor under a cold fetch. Both evs rows
// are compared with it; warm rows also carry "ratio_to_cold" (warm/cold ops per second).
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench.h"
#include "cart/cart.h"
#include "engines.h"
#include "evs/event_store.h"
#include "evs/repository.h"
#include "evs/uuid.h"
#include "report.h"

namespace evs::bench {
namespace {

constexpr int kItemsPerCart = 20;
constexpr int64_t kEventsPerCart = 1 + kItemsPerCart;
constexpr int kPrepareThreads = 8;

using CartRepository = Repository<cart::Cart>;

std::string ItemName(int i) {
  static constexpr const char* kProducts[] = {
      "organic whole-bean coffee, 1 kg", "stainless steel water bottle, 750 ml",
      "merino wool socks, size 42",      "recycled paper notebook, A5, dotted",
      "cast iron skillet, 26 cm",        "bamboo toothbrush, pack of 4",
      "noise-cancelling earbuds",        "linen tea towel, natural",
  };
  constexpr size_t kCount = sizeof(kProducts) / sizeof(kProducts[0]);
  return "SKU-" + std::to_string(10000 + i) + " " + kProducts[static_cast<size_t>(i) % kCount];
}

// Fills a store of `engine` in `folder` with `ids.size()` carts of kEventsPerCart events, each
// stored with one append. Uses a non-durable store and several threads to share commits: only
// reads are measured, and the files are the same either way.
Status PrepareCarts(const BenchEngine& engine, const std::string& folder,
                    const std::vector<std::string>& ids) {
  auto store = engine.open(folder, /*durable=*/false);
  if (!store.ok()) return store.error();
  RepositoryOptions repo_options;
  repo_options.cache_capacity = 0;
  CartRepository repo(**store, repo_options);

  std::atomic<size_t> next{0};
  std::vector<std::optional<Error>> errors(kPrepareThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kPrepareThreads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i; (i = next.fetch_add(1)) < ids.size();) {
        auto stored = repo.Create(ids[i], [](cart::Cart& c) -> Status {
          if (auto s = c.Open(); !s.ok()) return s;
          for (int item = 0; item < kItemsPerCart; ++item) {
            auto s = c.AddItem(ItemName(item), 1 + item % 3, 199 + 100 * item);
            if (!s.ok()) return s;
          }
          return OkStatus();
        });
        if (!stored.ok()) {
          errors[static_cast<size_t>(t)] = stored.error();
          return;
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  for (auto& e : errors) {
    if (e) return *e;
  }
  return OkStatus();
}

// A per-thread random order over all carts, cycled.
struct RandomOrder {
  RandomOrder(const std::vector<std::string>& ids, int thread) : order(ids.size()) {
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 rng(0x5eed + static_cast<uint64_t>(thread));
    std::shuffle(order.begin(), order.end(), rng);
  }
  size_t Next() { return order[next++ % order.size()]; }

  std::vector<size_t> order;
  size_t next = 0;
};

Status CheckCart(const Result<cart::Cart>& fetched, const std::string& id) {
  if (!fetched.ok()) return fetched.error();
  if (fetched->version() != kEventsPerCart || fetched->items().size() != kItemsPerCart) {
    return Error::Make(ErrorCode::kCorruption, "cart " + id + " came back at version " +
                                                   std::to_string(fetched->version()) + " with " +
                                                   std::to_string(fetched->items().size()) +
                                                   " items");
  }
  return OkStatus();
}

Row RunRepositoryFetch(const BenchOptions& options, int threads, CartRepository& repo,
                       const std::vector<std::string>& ids) {
  TimedRunOptions run{threads, options.warmup_seconds, options.seconds};
  return RunTimed(run, [&](int thread) -> Worker {
    auto order = std::make_shared<RandomOrder>(ids, thread);
    return [&repo, &ids, order]() -> Status {
      const std::string& id = ids[order->Next()];
      return CheckCart(repo.Fetch(id), id);
    };
  });
}

// ---- the raw SQLite baseline ---------------------------------------------------------------

struct RawEvent {
  int64_t position = 0;
  std::string stream_id;
  int64_t version = 0;
  std::string event_id, type, data, metadata;
  int64_t recorded_at_us = 0;
};

std::string Text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
}

class RawReader {
 public:
  ~RawReader() {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    if (db_ != nullptr) sqlite3_close(db_);
  }

  Status Open(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK ||
        sqlite3_exec(db_, "PRAGMA mmap_size = 268435456", nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v3(db_,
                           "SELECT e.position, s.stream_id, e.version, e.event_id, e.type, e.data, "
                           "e.metadata, e.recorded_at_us FROM streams s JOIN events e "
                           "ON e.stream_no = s.stream_no WHERE s.stream_id = ? AND e.version >= ? "
                           "ORDER BY e.version LIMIT ?",
                           -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK) {
      return Error::Make(ErrorCode::kIOError,
                         "cannot open " + path + " for raw reads: " + sqlite3_errmsg(db_));
    }
    return OkStatus();
  }

  Status Read(const std::string& stream) {
    events_.clear();
    sqlite3_bind_text(stmt_, 1, stream.data(), static_cast<int>(stream.size()), SQLITE_STATIC);
    sqlite3_bind_int64(stmt_, 2, 1);
    sqlite3_bind_int64(stmt_, 3, 1000);
    int rc;
    while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) {
      RawEvent e;
      e.position = sqlite3_column_int64(stmt_, 0);
      e.stream_id = Text(stmt_, 1);
      e.version = sqlite3_column_int64(stmt_, 2);
      e.event_id = Text(stmt_, 3);
      e.type = Text(stmt_, 4);
      e.data = Text(stmt_, 5);
      e.metadata = Text(stmt_, 6);
      e.recorded_at_us = sqlite3_column_int64(stmt_, 7);
      events_.push_back(std::move(e));
    }
    sqlite3_reset(stmt_);
    if (rc != SQLITE_DONE) {
      return Error::Make(ErrorCode::kIOError, "raw read of " + stream + ": " + sqlite3_errmsg(db_));
    }
    if (static_cast<int64_t>(events_.size()) != kEventsPerCart) {
      return Error::Make(ErrorCode::kCorruption, "raw read of " + stream + " found " +
                                                     std::to_string(events_.size()) + " events");
    }
    return OkStatus();
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::vector<RawEvent> events_;  // a fresh vector per read, as a caller would get
};

Row RunRawRead(const BenchOptions& options, int threads, const std::string& path,
               const std::vector<std::string>& ids) {
  TimedRunOptions run{threads, options.warmup_seconds, options.seconds};
  return RunTimed(run, [&](int thread) -> Worker {
    auto reader = std::make_shared<RawReader>();
    if (auto s = reader->Open(path); !s.ok()) {
      Error error = s.error();
      return [error]() -> Status { return error; };
    }
    auto order = std::make_shared<RandomOrder>(ids, thread);
    return [reader, order, &ids]() -> Status {
      return reader->Read(cart::Cart::StreamIdFor(ids[order->Next()]));
    };
  });
}

void Describe(Row& row, const char* bench, const char* system, int threads,
              const BenchOptions& options) {
  row.bench = bench;
  row.system = system;
  row.concurrency_name = "threads";
  row.concurrency = threads;
  row.extra["carts"] = options.carts;
  row.extra["events_per_cart"] = kEventsPerCart;
}

}  // namespace

Status RunFetchBench(const BenchOptions& options, Reporter& reporter) {
  std::vector<std::string> ids;
  ids.reserve(static_cast<size_t>(options.carts));
  for (int i = 0; i < options.carts; ++i) ids.push_back(Uuid::Random().ToString());

  // The same carts in each engine's store; the raw read reads the SQLite engine's file.
  struct Prepared {
    const BenchEngine* engine;
    std::string folder;
    std::unique_ptr<EventStore> store;
  };
  const std::vector<BenchEngine> engines = BenchEngines();
  std::vector<Prepared> prepared;
  std::string sqlite_file;
  for (const BenchEngine& engine : engines) {
    const std::string folder = options.dir + "/fetch-" + engine.name;
    std::error_code ignored;
    std::filesystem::create_directories(folder, ignored);
    std::fprintf(stderr, "fetch: preparing %d carts of %lld events in a %s store...\n",
                 options.carts, static_cast<long long>(kEventsPerCart), engine.name.c_str());
    if (auto s = PrepareCarts(engine, folder, ids); !s.ok()) return s;
    auto store = engine.open(folder, /*durable=*/true);
    if (!store.ok()) return store.error();
    if (engine.sqlite_file) sqlite_file = engine.sqlite_file(folder);
    prepared.push_back({&engine, folder, std::move(store).value()});
  }
  if (sqlite_file.empty()) {
    return Error::Make(ErrorCode::kInvalidArgument, "fetch: no SQLite engine for the raw read");
  }

  for (int threads : options.threads) {
    std::fprintf(stderr, "fetch: sqlite-raw, %d threads...\n", threads);
    Row raw = RunRawRead(options, threads, sqlite_file, ids);
    Describe(raw, "fetch_cold", "sqlite-raw", threads, options);
    SetRatio(raw, raw);
    reporter.Add(raw);

    for (Prepared& p : prepared) {
      const char* system = p.engine->system.c_str();
      std::fprintf(stderr, "fetch: %s cold, %d threads...\n", system, threads);
      RepositoryOptions cold_options;
      cold_options.cache_capacity = 0;
      CartRepository cold_repo(*p.store, cold_options);
      Row cold = RunRepositoryFetch(options, threads, cold_repo, ids);
      Describe(cold, "fetch_cold", system, threads, options);
      SetRatio(cold, raw);

      std::fprintf(stderr, "fetch: %s warm, %d threads...\n", system, threads);
      RepositoryOptions warm_options;
      // Well above the carts: the cache is sharded, and no shard may run full and evict.
      warm_options.cache_capacity = 4 * ids.size();
      CartRepository warm_repo(*p.store, warm_options);
      for (const std::string& id : ids) {
        if (Status s = CheckCart(warm_repo.Fetch(id), id); !s.ok()) return s;
      }
      Row warm = RunRepositoryFetch(options, threads, warm_repo, ids);
      Describe(warm, "fetch_warm", system, threads, options);
      SetRatio(warm, raw);
      if (cold.ops_per_s > 0) {
        const double to_cold = warm.ops_per_s / cold.ops_per_s;
        warm.extra["ratio_to_cold"] = std::round(to_cold * 1000) / 1000;
        char note[48];
        std::snprintf(note, sizeof(note), "%.1fx %s cold", to_cold, system);
        warm.note = warm.note.empty() ? note : std::string(note) + "; " + warm.note;
      }
      reporter.Add(cold);
      reporter.Add(warm);
    }
  }
  for (Prepared& p : prepared) {
    p.store.reset();
    std::error_code ignored;
    std::filesystem::remove_all(p.folder, ignored);
  }
  return OkStatus();
}

}  // namespace evs::bench
