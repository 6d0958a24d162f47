// Persistent subscriptions without HTTP: leases, per-stream order, acks and the checkpoint, lease
// timeouts, parking, nacks, filters, restarts from the SQLite file, bad input.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "evs/persistent_subscriptions.h"
#include "temp_dir.h"

namespace evs {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

constexpr auto kBound = 30s;  // the longest any wait of a test may take

class PersistentSubscriptionTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(PersistentSubscriptionsOptions options = {}) {
    manager_.reset();
    options.path = dir_.File("persistent.sqlite");
    auto opened = PersistentSubscriptions::Open(*store_, options);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    manager_ = std::move(opened).value();
  }

  int64_t Append(const std::string& stream, const std::string& type = "Tick") {
    EventData e;
    e.type = type;
    auto r = store_->Append(stream, ExpectedVersion::Any(), {e});
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->last_position : 0;
  }

  // Leases and waits (bounded) for the answer.
  std::vector<LeasedEvent> Lease(const std::string& name, size_t max,
                                 std::chrono::milliseconds wait = 0ms) {
    auto got = TryLease(name, max, wait);
    EXPECT_TRUE(got.ok()) << got.error().message;
    return got.ok() ? *got : std::vector<LeasedEvent>{};
  }

  Result<std::vector<LeasedEvent>> TryLease(const std::string& name, size_t max,
                                            std::chrono::milliseconds wait = 0ms) {
    auto promise = std::make_shared<std::promise<Result<std::vector<LeasedEvent>>>>();
    auto answer = promise->get_future();
    manager_->Lease(name, max, wait, [promise](Result<std::vector<LeasedEvent>> r) {
      promise->set_value(std::move(r));
    });
    if (answer.wait_for(kBound) != std::future_status::ready) {
      return Error::Make(ErrorCode::kUnavailable, "the lease was never answered");
    }
    return answer.get();
  }

  // Leases with waits until `count` events came or the bound passed.
  std::vector<LeasedEvent> LeaseUntil(const std::string& name, size_t count) {
    std::vector<LeasedEvent> all;
    const auto deadline = Steady::now() + kBound;
    while (all.size() < count && Steady::now() < deadline) {
      for (auto& e : Lease(name, count - all.size(), 200ms)) all.push_back(std::move(e));
    }
    return all;
  }

  void Put(const std::string& name, PersistentSubscriptionSettings settings = {}) {
    auto put = manager_->Put(name, settings);
    ASSERT_TRUE(put.ok()) << put.error().message;
  }

  PersistentSubscriptionInfo Info(const std::string& name) {
    auto info = manager_->Get(name);
    EXPECT_TRUE(info.ok());
    return info.ok() ? *info : PersistentSubscriptionInfo{};
  }

  static std::vector<int64_t> Positions(const std::vector<LeasedEvent>& events) {
    std::vector<int64_t> out;
    for (const auto& e : events) out.push_back(e.event.position);
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<EventStore> store_ = NewMemoryEventStore();
  std::unique_ptr<PersistentSubscriptions> manager_;
};

TEST_F(PersistentSubscriptionTest, OneEventPerStreamInFlightAndInOrder) {
  for (int v = 0; v < 3; ++v) {
    for (const char* s : {"a-1", "b-1", "c-1"}) Append(s);
  }
  Put("sub");
  auto first = LeaseUntil("sub", 3);
  ASSERT_EQ(Positions(first), (std::vector<int64_t>{1, 2, 3})) << "the first of each stream";
  EXPECT_TRUE(Lease("sub", 10).empty()) << "every stream has an event in flight";
  auto acked = manager_->Ack("sub", {2});
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(acked->acked, 1);
  EXPECT_EQ(acked->checkpoint, 0) << "position 1 is still in flight";
  auto next = LeaseUntil("sub", 1);
  ASSERT_EQ(Positions(next), (std::vector<int64_t>{5})) << "b-1's second event, after its first";
  EXPECT_EQ(next[0].event.version, 2);
  EXPECT_EQ(next[0].deliveries, 1);
}

TEST_F(PersistentSubscriptionTest, CompetingConsumersNeverShareALeaseAndKeepStreamOrder) {
  constexpr int kStreams = 8;
  constexpr int kPerStream = 25;
  Put("sub");
  std::mutex mu;
  std::set<int64_t> in_flight;
  std::map<std::string, int64_t> acked_version;  // recorded just before the ack is sent
  int64_t handled = 0;
  std::vector<std::string> faults;
  auto consume = [&] {
    const auto deadline = Steady::now() + kBound;
    while (Steady::now() < deadline) {
      {
        std::lock_guard guard(mu);
        if (handled == kStreams * kPerStream) return;
      }
      auto got = TryLease("sub", 5, 50ms);
      if (!got.ok()) continue;
      std::vector<int64_t> positions;
      {
        std::lock_guard guard(mu);
        for (const auto& l : *got) {
          const RecordedEvent& e = l.event;
          if (!in_flight.insert(e.position).second) faults.push_back("leased twice");
          if (acked_version[e.stream_id] != e.version - 1) faults.push_back("out of order");
          if (l.deliveries != 1) faults.push_back("delivered again");
          positions.push_back(e.position);
        }
        for (const auto& l : *got) {
          in_flight.erase(l.event.position);
          acked_version[l.event.stream_id] = l.event.version;
          ++handled;
        }
      }
      if (!positions.empty()) {
        EXPECT_TRUE(manager_->Ack("sub", positions).ok());
      }
    }
  };
  std::thread a(consume), b(consume), c(consume);
  for (int v = 0; v < kPerStream; ++v) {
    for (int s = 0; s < kStreams; ++s) Append("s-" + std::to_string(s));
  }
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(faults, std::vector<std::string>{});
  EXPECT_EQ(handled, kStreams * kPerStream);
  EXPECT_EQ(Info("sub").checkpoint, kStreams * kPerStream);
  EXPECT_EQ(Info("sub").in_flight, 0);
}

TEST_F(PersistentSubscriptionTest, AckMovesTheCheckpointOverTheAckedPrefixOnly) {
  for (const char* s : {"a", "b", "c", "d"}) Append(s);
  Put("sub");
  ASSERT_EQ(LeaseUntil("sub", 4).size(), 4u);
  auto acked = manager_->Ack("sub", {2, 3, 99});
  ASSERT_TRUE(acked.ok());
  EXPECT_EQ(acked->acked, 2);
  EXPECT_EQ(acked->ignored, 1) << "99 was never leased";
  EXPECT_EQ(acked->checkpoint, 0);
  acked = manager_->Ack("sub", {1, 2});
  EXPECT_EQ(acked->acked, 1);
  EXPECT_EQ(acked->ignored, 1) << "2 was acked already";
  EXPECT_EQ(acked->checkpoint, 3);
  EXPECT_EQ(manager_->Ack("sub", {4})->checkpoint, 4);
  EXPECT_EQ(Info("sub").in_flight, 0);
}

TEST_F(PersistentSubscriptionTest, ALeaseThatTimesOutIsLeasedAgain) {
  Append("a");
  PersistentSubscriptionSettings settings;
  settings.ack_timeout_ms = 50;
  Put("sub", settings);
  auto first = LeaseUntil("sub", 1);
  ASSERT_EQ(first.size(), 1u);
  auto again = LeaseUntil("sub", 1);  // nothing is acked: after 50 ms it comes back
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].event.position, 1);
  EXPECT_EQ(again[0].deliveries, 2);
  EXPECT_EQ(manager_->Ack("sub", {1})->acked, 1) << "the latest lease is acked";
}

TEST_F(PersistentSubscriptionTest, MaxDeliveriesParksAndTheCheckpointPassesTheParkedEvent) {
  Append("a");
  Append("a");
  PersistentSubscriptionSettings settings;
  settings.ack_timeout_ms = 30;
  settings.max_deliveries = 2;
  Put("sub", settings);
  std::vector<int64_t> deliveries;  // of the first event
  std::vector<LeasedEvent> second;  // leased only once the first is parked
  const auto deadline = Steady::now() + kBound;
  while (second.empty() && Steady::now() < deadline) {
    for (auto& l : Lease("sub", 1, 100ms)) {
      if (l.event.position == 1) {
        deliveries.push_back(l.deliveries);
      } else {
        second.push_back(std::move(l));
      }
    }
  }
  EXPECT_EQ(deliveries, (std::vector<int64_t>{1, 2}));
  ASSERT_EQ(Positions(second), (std::vector<int64_t>{2}));
  auto parked = manager_->ListParked("sub", 0, 10);
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].event.position, 1);
  EXPECT_EQ((*parked)[0].attempts, 2);
  EXPECT_NE((*parked)[0].error.find("not acked within 30 ms"), std::string::npos);
  EXPECT_EQ(manager_->Ack("sub", {2})->checkpoint, 2);
}

TEST_F(PersistentSubscriptionTest, NackRetriesOrParksAndParkedEventsCanBeRetried) {
  Append("a");
  Append("b");
  Put("sub");
  ASSERT_EQ(LeaseUntil("sub", 2).size(), 2u);
  auto nacked = manager_->Nack("sub", {1}, NackAction::kRetry, "");
  ASSERT_TRUE(nacked.ok());
  EXPECT_EQ(nacked->retried, 1);
  auto again = LeaseUntil("sub", 1);
  ASSERT_EQ(Positions(again), (std::vector<int64_t>{1}));
  EXPECT_EQ(again[0].deliveries, 2);
  nacked = manager_->Nack("sub", {1, 2, 7}, NackAction::kPark, "bad data");
  EXPECT_EQ(nacked->parked, 2);
  EXPECT_EQ(nacked->ignored, 1);
  EXPECT_EQ(nacked->checkpoint, 2) << "parked events count as done";
  auto parked = manager_->ListParked("sub", 0, 10);
  ASSERT_EQ(parked->size(), 2u);
  EXPECT_EQ((*parked)[0].error, "bad data");
  EXPECT_EQ(Info("sub").parked, 2);

  auto retrying = manager_->RetryParked("sub", {(*parked)[1].id});
  ASSERT_TRUE(retrying.ok());
  EXPECT_EQ(*retrying, 1);
  auto retried = LeaseUntil("sub", 1);
  ASSERT_EQ(Positions(retried), (std::vector<int64_t>{2}));
  EXPECT_EQ(manager_->Ack("sub", {2})->acked, 1);
  EXPECT_EQ(Info("sub").parked, 1) << "an acked retry leaves the parked list";
  // A retry nacked with park goes back to the list, its retry request cleared.
  EXPECT_EQ(*manager_->RetryParked("sub", {}), 1);
  ASSERT_EQ(Positions(LeaseUntil("sub", 1)), (std::vector<int64_t>{1}));
  EXPECT_EQ(manager_->Nack("sub", {1}, NackAction::kPark, "still bad")->parked, 1);
  parked = manager_->ListParked("sub", 0, 10);
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].error, "still bad");
  EXPECT_FALSE((*parked)[0].retry_requested);
}

TEST_F(PersistentSubscriptionTest, FiltersByCategoryAndEventType) {
  Append("cart-1", "ItemAdded");
  Append("cart-2", "CartOpened");
  Append("order-1", "ItemAdded");
  Append("cart", "ItemAdded");     // a stream id without '-' is its own category
  Append("carts-1", "ItemAdded");  // another category
  Append("cart-3", "ItemAdded");
  PersistentSubscriptionSettings settings;
  settings.category = "cart";
  settings.event_types = {"ItemAdded"};
  Put("sub", settings);
  auto got = LeaseUntil("sub", 3);
  ASSERT_EQ(Positions(got), (std::vector<int64_t>{1, 4, 6}));
  EXPECT_TRUE(Lease("sub", 10).empty());
  EXPECT_EQ(manager_->Ack("sub", {1, 4, 6})->checkpoint, 6);
}

TEST_F(PersistentSubscriptionTest, ARestartDeliversWhatIsAfterTheCheckpointAgain) {
  for (const char* s : {"a", "b", "c", "d", "e", "f"}) Append(s);
  PersistentSubscriptionSettings settings;
  settings.from = 1;  // events after position 1
  Put("sub", settings);
  ASSERT_EQ(Positions(LeaseUntil("sub", 5)), (std::vector<int64_t>{2, 3, 4, 5, 6}));
  ASSERT_TRUE(manager_->Ack("sub", {2, 3, 5}).ok());
  ASSERT_TRUE(manager_->Nack("sub", {6}, NackAction::kPark, "parked before the restart").ok());
  EXPECT_EQ(Info("sub").checkpoint, 3);

  Open();  // the process restarts: only the file is left
  PersistentSubscriptionInfo info = Info("sub");
  EXPECT_EQ(info.checkpoint, 3);
  EXPECT_EQ(info.parked, 1);
  EXPECT_EQ(info.settings.from, 1);
  EXPECT_EQ(info.in_flight, 0);
  // At least once: 4 was never acked, 5 was acked above it; 6 stays parked.
  auto again = LeaseUntil("sub", 2);
  EXPECT_EQ(Positions(again), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(again[0].deliveries, 1);
  EXPECT_TRUE(Lease("sub", 10, 100ms).empty()) << "a parked event is not delivered again";
  ASSERT_EQ(manager_->Ack("sub", {4, 5})->checkpoint, 6);
  // A retry requested before a restart is still requested after it.
  EXPECT_EQ(*manager_->RetryParked("sub", {}), 1);
  Open();
  ASSERT_EQ(Positions(LeaseUntil("sub", 1)), (std::vector<int64_t>{6}));
}

TEST_F(PersistentSubscriptionTest, RefusesBadNamesSettingsAndRequests) {
  for (const std::string& name :
       std::vector<std::string>{"", "a/b", ".hidden", "sp ace", std::string(129, 'x'), "é"}) {
    EXPECT_EQ(manager_->Put(name, {}).error().code, ErrorCode::kInvalidArgument) << name;
  }
  EXPECT_TRUE(manager_->Put(std::string(128, 'x'), {}).ok());
  auto bad = [&](auto change) {
    PersistentSubscriptionSettings s;
    change(s);
    return manager_->Put("sub", s).error().code;
  };
  EXPECT_EQ(bad([](auto& s) { s.from = -1; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& s) { s.category = "a-b"; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& s) { s.event_types = {""}; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& s) { s.ack_timeout_ms = 0; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& s) { s.ack_timeout_ms = 3600001; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& s) { s.max_deliveries = 0; }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad([](auto& s) { s.max_deliveries = 1001; }), ErrorCode::kInvalidArgument);

  Put("sub");
  EXPECT_EQ(TryLease("sub", 0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(TryLease("sub", 1001).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(TryLease("sub", 1, 30001ms).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(TryLease("nope", 1).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(manager_->Ack("nope", {1}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(manager_->Ack("sub", std::vector<int64_t>(1001, 1)).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(manager_->Delete("nope").error().code, ErrorCode::kNotFound);

  PersistentSubscriptionsOptions few;
  few.max_subscriptions = 2;
  Open(few);
  EXPECT_EQ(manager_->Put("third", {}).error().code, ErrorCode::kLimitExceeded);
  EXPECT_FALSE(*manager_->Put("sub", {})) << "an update is not one more";
}

TEST_F(PersistentSubscriptionTest, WaitingLeasesAreAnsweredByDeleteShutdownAndNewEvents) {
  Put("sub");
  Put("other");
  auto promise = std::make_shared<std::promise<size_t>>();
  auto answered = promise->get_future();
  manager_->Lease("sub", 5, 30000ms, [promise](Result<std::vector<LeasedEvent>> r) {
    promise->set_value(r.ok() ? r->size() : 99);
  });
  ASSERT_TRUE(manager_->Delete("sub").ok());
  ASSERT_EQ(answered.wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(answered.get(), 0u);
  EXPECT_EQ(manager_->Get("sub").error().code, ErrorCode::kNotFound);

  auto woken = std::make_shared<std::promise<size_t>>();
  auto events = woken->get_future();
  manager_->Lease("other", 5, 30000ms, [woken](Result<std::vector<LeasedEvent>> r) {
    woken->set_value(r.ok() ? r->size() : 99);
  });
  Append("x");
  ASSERT_EQ(events.wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(events.get(), 1u) << "an append answers a waiting lease";

  auto stopped = std::make_shared<std::promise<size_t>>();
  auto at_stop = stopped->get_future();
  manager_->Lease("other", 5, 30000ms, [stopped](Result<std::vector<LeasedEvent>> r) {
    stopped->set_value(r.ok() ? r->size() : 99);
  });
  manager_->Shutdown();
  ASSERT_EQ(at_stop.wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(at_stop.get(), 0u);
}

TEST_F(PersistentSubscriptionTest, AnUpdateKeepsTheCheckpointAndAppliesNewFilters) {
  Append("a-1", "X");
  Append("b-1", "Y");
  Put("sub");
  ASSERT_EQ(LeaseUntil("sub", 2).size(), 2u);
  ASSERT_EQ(manager_->Ack("sub", {1})->checkpoint, 1);
  PersistentSubscriptionSettings settings;
  settings.from = 0;  // ignored on update
  settings.event_types = {"Y", "Z"};
  auto updated = manager_->Put("sub", settings);
  ASSERT_TRUE(updated.ok());
  EXPECT_FALSE(*updated);
  EXPECT_EQ(Info("sub").checkpoint, 1);
  EXPECT_EQ(Info("sub").in_flight, 0) << "leases in flight are forgotten";
  EXPECT_EQ(manager_->Ack("sub", {2})->ignored, 1);
  Append("c-1", "Z");
  EXPECT_EQ(Positions(LeaseUntil("sub", 2)), (std::vector<int64_t>{2, 3}));
}

}  // namespace
}  // namespace evs
