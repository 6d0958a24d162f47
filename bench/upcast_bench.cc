// `evs-bench upcast`: catch-up of a log of cart events through the cart's upcaster.
//
// Two stores hold the same --upcast-events cart events (carts of one CartOpened and 19 ItemAdded,
// the same names, quantities and prices): one as the previous release wrote them (ItemAdded at
// schema version 1, {"unit_price_cents"}), one as this release writes them (version 2, the price
// with its currency, "schema_version" in metadata). A Subscription with the cart's upcaster
// catches up from position 0 on each, with a handler that decodes every event into the cart's
// types and applies it to an in-memory cart per stream (a projection kept in memory):
//
//   system "evs"          the version-1 store: every ItemAdded goes through the one-step upcast
//   system "no-upcast"    the version-2 store: the same events need no step (the baseline)
//
// Each runs kRounds times, alternating; each row reports its best round (all of them in JSON).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench.h"
#include "cart/cart.h"
#include "engines.h"
#include "evs/event_store.h"
#include "evs/subscription.h"
#include "evs/upcasting.h"
#include "report.h"

namespace evs::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kEventsPerCart = 20;
constexpr int kFillThreads = 4;
constexpr int kRounds = 2;
constexpr auto kCatchUpTimeout = std::chrono::minutes(10);

std::string ItemName(int64_t i) {
  static constexpr const char* kNames[] = {"organic coffee beans, 1 kg", "water bottle, 750 ml",
                                           "merino socks, size 42", "dotted notebook, A5"};
  return kNames[i % 4];
}

// The cart events of one append: CartOpened, then ItemAdded at `schema_version`.
std::vector<EventData> CartEventsAt(int schema_version) {
  std::vector<EventData> events(kEventsPerCart);
  events[0].type = "CartOpened";
  for (int64_t i = 1; i < kEventsPerCart; ++i) {
    EventData& e = events[static_cast<size_t>(i)];
    e.type = "ItemAdded";
    const int64_t quantity = 1 + i % 3;
    const int64_t cents = 199 + 100 * i;
    if (schema_version == 1) {
      e.data =
          nlohmann::json{{"name", ItemName(i)}, {"quantity", quantity}, {"unit_price_cents", cents}}
              .dump();
    } else {
      auto encoded = cart::CartEvents::Encode(
          cart::ItemAdded{ItemName(i), quantity, cart::Price{cents, "USD"}});
      e.data = encoded->data;
      e.metadata = encoded->metadata;
    }
  }
  return events;
}

Status Fill(const std::string& folder, int64_t events, int schema_version) {
  // Only reads are measured; the files are the same.
  auto store = OpenDefaultStore(folder, /*durable=*/false);
  if (!store.ok()) return store.error();
  const std::vector<EventData> cart = CartEventsAt(schema_version);
  const int64_t carts = events / kEventsPerCart;
  std::atomic<int64_t> next{0};
  std::mutex mu;
  std::optional<Error> error;
  std::vector<std::thread> pool;
  for (int t = 0; t < kFillThreads; ++t) {
    pool.emplace_back([&] {
      for (int64_t c; (c = next.fetch_add(1)) < carts;) {
        std::vector<EventData> batch = cart;
        for (EventData& e : batch) e.id = Uuid::Random();
        auto appended = (*store)->Append("cart-" + Uuid::Random().ToString(),
                                         ExpectedVersion::NoStream(), std::move(batch));
        if (!appended.ok()) {
          std::lock_guard guard(mu);
          error = appended.error();
          next.store(carts);
        }
      }
    });
  }
  for (auto& thread : pool) thread.join();
  if (error) return *error;
  return OkStatus();
}

// Decodes every event into the cart's types and applies it to the stream's cart.
class InMemoryCarts final : public EventHandler {
 public:
  Status Handle(std::span<const RecordedEvent> batch) override {
    for (const RecordedEvent& e : batch) {
      auto event = cart::CartEvents::Decode(e);
      if (!event.ok()) return event.error();
      carts_.try_emplace(e.stream_id, e.stream_id).first->second.Apply(*event);
      ++events_;
    }
    return OkStatus();
  }
  int64_t events_ = 0;
  int64_t total_cents() const {
    int64_t total = 0;
    for (const auto& [id, c] : carts_) total += c.total_cents();
    return total;
  }

 private:
  std::unordered_map<std::string, cart::Cart> carts_;
};

struct Round {
  double events_per_s = 0;
  int64_t total_cents = 0;
};

Result<Round> CatchUp(const std::string& store_folder, const std::string& checkpoints_path,
                      int64_t events) {
  auto store = OpenDefaultStore(store_folder, /*durable=*/true);
  if (!store.ok()) return store.error();
  std::filesystem::remove(checkpoints_path);
  auto checkpoints = OpenSqliteCheckpointStore(checkpoints_path);
  if (!checkpoints.ok()) return checkpoints.error();
  InMemoryCarts handler;
  SubscriptionOptions sub_options;
  sub_options.name = "upcast";
  sub_options.upcaster = cart::CartUpcaster();
  sub_options.failure.max_attempts = 1;
  sub_options.failure.on_exhausted = FailurePolicy::OnExhausted::kStop;
  const Clock::time_point start = Clock::now();
  auto sub = Subscription::Start(**store, **checkpoints, handler, sub_options);
  if (!sub.ok()) return sub.error();
  const bool reached = (*sub)->WaitUntil(events, kCatchUpTimeout);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const SubscriptionStatus status = (*sub)->GetStatus();
  sub->reset();
  if (!reached || handler.events_ != events) {
    return Error::Make(ErrorCode::kCorruption,
                       "the catch-up handled " + std::to_string(handler.events_) + " of " +
                           std::to_string(events) + " events: " + status.error);
  }
  return Round{static_cast<double>(events) / seconds, handler.total_cents()};
}

}  // namespace

Status RunUpcastBench(const BenchOptions& options, Reporter& reporter) {
  const int64_t events =
      std::max<int64_t>(options.upcast_events / kEventsPerCart, 1) * kEventsPerCart;
  const std::string old_path = options.dir + "/upcast-v1";
  const std::string new_path = options.dir + "/upcast-v2";
  std::fprintf(stderr, "upcast: writing %lld cart events twice (schema versions 1 and 2)...\n",
               static_cast<long long>(events));
  if (Status s = Fill(old_path, events, 1); !s.ok()) return s;
  if (Status s = Fill(new_path, events, 2); !s.ok()) return s;

  std::vector<double> upcast_rounds, plain_rounds;
  std::optional<int64_t> total;
  for (int round = 0; round < kRounds; ++round) {
    for (bool upcast : {true, false}) {
      std::fprintf(stderr, "upcast: %s, round %d...\n", upcast ? "evs" : "no-upcast", round + 1);
      auto result =
          CatchUp(upcast ? old_path : new_path, options.dir + "/upcast-checkpoints.sqlite", events);
      if (!result.ok()) return result.error();
      // Both logs hold the same carts: the projections must agree.
      if (total && *total != result->total_cents) {
        return Error::Make(ErrorCode::kCorruption, "the two catch-ups disagree on the carts");
      }
      total = result->total_cents;
      (upcast ? upcast_rounds : plain_rounds).push_back(result->events_per_s);
    }
  }
  auto make_row = [&](const char* system, const std::vector<double>& rounds) {
    Row row;
    row.bench = "upcast";
    row.system = system;
    row.ops = events;
    row.ops_per_s = *std::max_element(rounds.begin(), rounds.end());
    row.seconds = static_cast<double>(events) / row.ops_per_s;
    row.extra["events"] = events;
    row.extra["rounds_ops_per_s"] = rounds;
    return row;
  };
  Row baseline = make_row("no-upcast", plain_rounds);
  Row upcast = make_row("evs", upcast_rounds);
  baseline.note = "version-2 events, nothing to upcast";
  upcast.note = "version-1 ItemAdded, one step each";
  SetRatio(baseline, baseline);
  SetRatio(upcast, baseline);
  reporter.Add(baseline);
  reporter.Add(upcast);
  std::error_code ignored;
  std::filesystem::remove_all(old_path, ignored);
  std::filesystem::remove_all(new_path, ignored);
  return OkStatus();
}

}  // namespace evs::bench
