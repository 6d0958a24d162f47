// `evs-bench snapshot`: cold fetches (the repository's cache off) with and without snapshots.
//
//   bench "snapshot"   --snapshot-carts carts of kLongCartEvents events each (a CartOpened, then
//                      items added and removed over a catalogue of 20, so the state stays
//                      small), fetched in random order by one thread:
//                        system "no-snapshot"  no snapshot store: every fetch reads and applies
//                                              all the events (the baseline)
//                        system "evs"          a SQLite snapshot store, snapshots every
//                                              --snapshot-every events: each cart's snapshot is
//                                              a random 0 to 99 events behind the head, as the
//                                              policy leaves it between writes, so a fetch reads
//                                              the snapshot and the events after it
//   bench "snapshot_off"  carts of 21 events (CartOpened, 20 ItemAdded), as `evs-bench fetch`:
//                        system "plain-loop"   the fetch loop of the repository before snapshots
//                                              and upcasting: StreamVersion, ReadStream pages,
//                                              decode, apply (the baseline)
//                        system "evs"          Repository::Fetch with snapshots off
#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench.h"
#include "cart/cart.h"
#include "engines.h"
#include "evs/event_store.h"
#include "evs/repository.h"
#include "evs/snapshot.h"
#include "report.h"

namespace evs::bench {
namespace {

constexpr int64_t kLongCartEvents = 10000;
constexpr int kShortCarts = 2000;
constexpr int kShortCartItems = 20;
constexpr size_t kAppendChunk = 500;

using CartRepository = Repository<cart::Cart>;

// Commands on a cart kept in memory: its pending events are what a writer would have stored.
void AddCommands(cart::Cart& c, int64_t events, std::mt19937_64& random) {
  while (static_cast<int64_t>(c.pending().size()) < events) {
    const std::string item = "SKU-" + std::to_string(10000 + random() % 20);
    auto line = c.items().find(item);
    if (line != c.items().end() && random() % 3 == 0) {
      (void)c.RemoveItem(item, 1);
    } else {
      (void)c.AddItem(item, 1,
                      line != c.items().end() ? line->second.unit_price_cents
                                              : 100 + static_cast<int64_t>(random() % 900));
    }
  }
}

// Appends events [from, to) of the cart's pending events, in chunks.
Status AppendRange(EventStore& store, const cart::Cart& c, size_t from, size_t to) {
  for (size_t start = from; start < to; start += kAppendChunk) {
    std::vector<EventData> chunk;
    for (size_t i = start; i < std::min(to, start + kAppendChunk); ++i) {
      auto encoded = cart::CartEvents::Encode(c.pending()[i]);
      if (!encoded.ok()) return encoded.error();
      chunk.push_back(std::move(encoded).value());
    }
    auto appended = store.Append(c.stream_id(), ExpectedVersion::Any(), std::move(chunk));
    if (!appended.ok()) return appended.error();
  }
  return OkStatus();
}

Row FetchRow(const BenchOptions& options, const std::vector<std::string>& ids,
             const std::function<Status(const std::string&)>& fetch) {
  TimedRunOptions run{1, options.warmup_seconds, options.seconds};
  return RunTimed(run, [&](int thread) -> Worker {
    auto random = std::make_shared<std::mt19937_64>(0x5eed + static_cast<uint64_t>(thread));
    return [&, random]() -> Status { return fetch(ids[(*random)() % ids.size()]); };
  });
}

Status CheckVersion(const Result<cart::Cart>& fetched, int64_t version) {
  if (!fetched.ok()) return fetched.error();
  if (fetched->version() != version) {
    return Error::Make(ErrorCode::kCorruption, "a cart came back at version " +
                                                   std::to_string(fetched->version()) + ", not " +
                                                   std::to_string(version));
  }
  return OkStatus();
}

Status LongCarts(const BenchOptions& options, Reporter& reporter) {
  const std::string folder = options.dir + "/snapshot";
  auto store = OpenDefaultStore(folder, /*durable=*/false);
  if (!store.ok()) return store.error();
  auto snapshots = OpenSqliteSnapshotStore(folder + "/snapshots.sqlite");
  if (!snapshots.ok()) return snapshots.error();
  std::shared_ptr<SnapshotStore> snapshot_store = std::move(snapshots).value();
  RepositoryOptions with;
  with.cache_capacity = 0;
  with.snapshots = snapshot_store;
  with.snapshot_every = options.snapshot_every;
  CartRepository snapshotted(**store, with);

  std::fprintf(stderr, "snapshot: writing %d carts of %lld events...\n", options.snapshot_carts,
               static_cast<long long>(kLongCartEvents));
  std::mt19937_64 random(42);
  std::vector<std::string> ids;
  for (int n = 0; n < options.snapshot_carts; ++n) {
    ids.push_back(Uuid::Random().ToString());
    cart::Cart c(ids.back());
    (void)c.Open();
    AddCommands(c, kLongCartEvents, random);
    // The snapshot a writer with the policy left: 0 to policy-1 events before the head.
    const int64_t at =
        kLongCartEvents -
        static_cast<int64_t>(random() % static_cast<uint64_t>(options.snapshot_every));
    if (Status s = AppendRange(**store, c, 0, static_cast<size_t>(at)); !s.ok()) return s;
    if (Status s = CheckVersion(snapshotted.Fetch(ids.back()), at); !s.ok()) return s;
    if (Status s = AppendRange(**store, c, static_cast<size_t>(at), c.pending().size()); !s.ok()) {
      return s;
    }
  }
  CartRepository plain(**store, RepositoryOptions{.cache_capacity = 0});
  std::fprintf(stderr, "snapshot: no-snapshot...\n");
  Row baseline = FetchRow(options, ids, [&](const std::string& id) {
    return CheckVersion(plain.Fetch(id), kLongCartEvents);
  });
  std::fprintf(stderr, "snapshot: evs...\n");
  const RepositorySnapshotStats before = snapshotted.snapshot_stats();
  Row evs = FetchRow(options, ids, [&](const std::string& id) {
    return CheckVersion(snapshotted.Fetch(id), kLongCartEvents);
  });
  const RepositorySnapshotStats after = snapshotted.snapshot_stats();
  for (Row* row : {&baseline, &evs}) {
    row->bench = "snapshot";
    row->concurrency_name = "threads";
    row->concurrency = 1;
    row->extra["carts"] = options.snapshot_carts;
    row->extra["events_per_cart"] = kLongCartEvents;
  }
  baseline.system = "no-snapshot";
  evs.system = "evs";
  evs.extra["snapshot_every"] = options.snapshot_every;
  evs.extra["snapshots_used"] = after.used - before.used;
  evs.extra["snapshots_saved"] = after.saved - before.saved;
  SetRatio(baseline, baseline);
  SetRatio(evs, baseline);
  reporter.Add(baseline);
  reporter.Add(evs);
  return OkStatus();  // the run's scratch folder goes at the end, with the stores in it
}

// What Repository::Fetch did before snapshots and upcasting.
Status PlainLoopFetch(EventStore& store, const std::string& id) {
  const std::string stream = cart::Cart::StreamIdFor(id);
  auto head = store.StreamVersion(stream);
  if (!head.ok()) return head.error();
  cart::Cart c(id);
  ReadStreamOptions read;
  read.from = 1;
  int64_t version = 0;
  for (;;) {
    auto page = store.ReadStream(stream, read);
    if (!page.ok()) return page.error();
    for (const RecordedEvent& recorded : page->events) {
      auto event = cart::CartEvents::Decode(recorded);
      if (!event.ok()) return event.error();
      c.Apply(*event);
      version = recorded.version;
    }
    if (page->end_of_stream || page->events.empty()) break;
    read.from = version + 1;
  }
  if (version != 1 + kShortCartItems) {
    return Error::Make(ErrorCode::kCorruption, "the plain loop read " + std::to_string(version));
  }
  return OkStatus();
}

Status ShortCarts(const BenchOptions& options, Reporter& reporter) {
  const std::string folder = options.dir + "/snapshot-off";
  auto store = OpenDefaultStore(folder, /*durable=*/false);
  if (!store.ok()) return store.error();
  CartRepository repo(**store, RepositoryOptions{.cache_capacity = 0});
  std::vector<std::string> ids;
  for (int n = 0; n < kShortCarts; ++n) {
    ids.push_back(Uuid::Random().ToString());
    auto made = repo.Create(ids.back(), [](cart::Cart& c) -> Status {
      if (Status s = c.Open(); !s.ok()) return s;
      for (int i = 0; i < kShortCartItems; ++i) {
        if (Status s = c.AddItem("SKU-" + std::to_string(10000 + i), 1 + i % 3, 199 + 100 * i);
            !s.ok()) {
          return s;
        }
      }
      return OkStatus();
    });
    if (!made.ok()) return made.error();
  }
  // Alternating rounds, best of each: the two are close and the machine is shared.
  std::vector<Row> plain_rounds, evs_rounds;
  for (int round = 0; round < 2; ++round) {
    std::fprintf(stderr, "snapshot_off: plain-loop, round %d...\n", round + 1);
    plain_rounds.push_back(
        FetchRow(options, ids, [&](const std::string& id) { return PlainLoopFetch(**store, id); }));
    std::fprintf(stderr, "snapshot_off: evs, round %d...\n", round + 1);
    evs_rounds.push_back(FetchRow(options, ids, [&](const std::string& id) {
      return CheckVersion(repo.Fetch(id), 1 + kShortCartItems);
    }));
  }
  auto best = [](std::vector<Row>& rounds) {
    return *std::max_element(rounds.begin(), rounds.end(),
                             [](const Row& a, const Row& b) { return a.ops_per_s < b.ops_per_s; });
  };
  Row baseline = best(plain_rounds);
  Row evs = best(evs_rounds);
  for (Row* row : {&baseline, &evs}) {
    row->bench = "snapshot_off";
    row->concurrency_name = "threads";
    row->concurrency = 1;
    row->extra["carts"] = kShortCarts;
    row->extra["events_per_cart"] = 1 + kShortCartItems;
  }
  baseline.system = "plain-loop";
  evs.system = "evs";
  SetRatio(baseline, baseline);
  SetRatio(evs, baseline);
  reporter.Add(baseline);
  reporter.Add(evs);
  return OkStatus();
}

}  // namespace

Status RunSnapshotBench(const BenchOptions& options, Reporter& reporter) {
  if (Status s = LongCarts(options, reporter); !s.ok()) return s;
  return ShortCarts(options, reporter);
}

}  // namespace evs::bench
