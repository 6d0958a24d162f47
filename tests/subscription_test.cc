// Subscriptions on every backend with a global log: catch-up then live, exactly once in order
// for a clean run, filters, failure policy and parking, consumer groups, resume.
#include "evs/subscription.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store_factory.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

// Records everything it is handed; can be told to fail on some positions.
class RecordingHandler : public EventHandler {
 public:
  Status Handle(std::span<const RecordedEvent> batch) override {
    std::lock_guard guard(mu_);
    for (const auto& e : batch) {
      if (poison_.count(e.position)) {
        ++failures_;
        return Error::Make(ErrorCode::kInvalidArgument, "poison at " + std::to_string(e.position));
      }
    }
    for (const auto& e : batch) events_.push_back(e);
    return OkStatus();
  }
  std::vector<RecordedEvent> events() {
    std::lock_guard guard(mu_);
    return events_;
  }
  void Poison(int64_t position) {
    std::lock_guard guard(mu_);
    poison_.insert(position);
  }
  void Cure() {
    std::lock_guard guard(mu_);
    poison_.clear();
  }
  int failures() {
    std::lock_guard guard(mu_);
    return failures_;
  }

 private:
  std::mutex mu_;
  std::vector<RecordedEvent> events_;
  std::set<int64_t> poison_;
  int failures_ = 0;
};

EventData Tick(const std::string& type = "Tick") {
  EventData e;
  e.type = type;
  return e;
}

class SubscriptionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    factory_ = testing::MakeFactory(GetParam());
    store_ = factory_->Open();
    ASSERT_NE(store_, nullptr);
    auto checkpoints = OpenSqliteCheckpointStore(dir_.File("feed.sqlite"));
    ASSERT_TRUE(checkpoints.ok()) << checkpoints.error().message;
    checkpoints_ = std::move(checkpoints).value();
  }

  std::unique_ptr<Subscription> Subscribe(EventHandler& handler, SubscriptionOptions options) {
    options.failure.initial_backoff = 1ms;
    options.failure.max_backoff = 5ms;
    auto s = Subscription::Start(*store_, *checkpoints_, handler, std::move(options));
    EXPECT_TRUE(s.ok()) << s.error().message;
    return s.ok() ? std::move(s).value() : nullptr;
  }

  void Append(const std::string& stream, int n, const std::string& type = "Tick") {
    for (int i = 0; i < n; ++i)
      ASSERT_TRUE(store_->Append(stream, ExpectedVersion::Any(), {Tick(type)}).ok());
  }

  int64_t Head() { return *store_->HeadPosition(); }

  std::unique_ptr<testing::StoreFactory> factory_;
  std::unique_ptr<EventStore> store_;
  testing::TempDir dir_;
  std::unique_ptr<CheckpointStore> checkpoints_;
};

void ExpectExactlyOnceInOrder(const std::vector<RecordedEvent>& events, int64_t head) {
  ASSERT_EQ(static_cast<int64_t>(events.size()), head);
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].position, static_cast<int64_t>(i + 1)) << "skipped or repeated";
  }
}

TEST_P(SubscriptionTest, ConcurrentWritersEverySubscriberSeesEveryPositionOnceInOrder) {
  Append("before", 50);  // some history to catch up on
  RecordingHandler handlers[3];
  std::vector<std::unique_ptr<Subscription>> subs;
  for (int i = 0; i < 3; ++i) {
    SubscriptionOptions o;
    o.name = "sub-" + std::to_string(i);
    o.batch_size = 7 + i * 50;
    subs.push_back(Subscribe(handlers[i], o));
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 60; ++i) {
        ASSERT_TRUE(
            store_->Append("w-" + std::to_string(w % 3), ExpectedVersion::Any(), {Tick(), Tick()})
                .ok());
      }
    });
  }
  for (auto& w : writers) w.join();
  const int64_t head = Head();
  ASSERT_EQ(head, 50 + 8 * 60 * 2);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(subs[i]->WaitUntil(head, 30s)) << "subscriber " << i;
    ExpectExactlyOnceInOrder(handlers[i].events(), head);
    EXPECT_EQ(subs[i]->GetStatus().state, SubscriptionStatus::State::kLive);
  }
}

TEST_P(SubscriptionTest, LiveEventsArriveWithoutPolling) {
  RecordingHandler handler;
  SubscriptionOptions o;
  o.name = "live";
  o.idle_wait = 10s;  // a poll would take this long: only a wake-up by the commit is in time
  auto sub = Subscribe(handler, o);
  ASSERT_TRUE(sub->WaitUntil(0, 5s));
  std::this_thread::sleep_for(50ms);  // let it go to sleep waiting for a commit
  const auto start = std::chrono::steady_clock::now();
  Append("s", 1);
  ASSERT_TRUE(sub->WaitUntil(1, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_P(SubscriptionTest, ResumesFromItsCheckpoint) {
  Append("s", 20);
  {
    RecordingHandler handler;
    SubscriptionOptions o;
    o.name = "resume";
    o.batch_size = 6;
    auto sub = Subscribe(handler, o);
    ASSERT_TRUE(sub->WaitUntil(20, 10s));
    sub->Stop();
    EXPECT_EQ(handler.events().size(), 20u);
  }
  Append("s", 5);
  RecordingHandler handler;
  SubscriptionOptions o;
  o.name = "resume";
  auto sub = Subscribe(handler, o);
  ASSERT_TRUE(sub->WaitUntil(25, 10s));
  auto events = handler.events();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events.front().position, 21);
  EXPECT_EQ(*checkpoints_->Load("resume"), std::optional<std::string>("25"));
}

TEST_P(SubscriptionTest, FilteredSubscriptionStillAdvancesItsCheckpoint) {
  Append("cart-1", 5, "ItemAdded");
  Append("order-1", 5, "OrderPlaced");
  Append("cart-2", 5, "CartOpened");
  RecordingHandler by_type, by_prefix;
  SubscriptionOptions t;
  t.name = "types";
  t.event_types = {"OrderPlaced", "CartOpened"};
  SubscriptionOptions p;
  p.name = "prefix";
  p.stream_prefix = "cart-";
  auto a = Subscribe(by_type, t);
  auto b = Subscribe(by_prefix, p);
  ASSERT_TRUE(a->WaitUntil(15, 10s));
  ASSERT_TRUE(b->WaitUntil(15, 10s));
  EXPECT_EQ(by_type.events().size(), 10u);
  for (const auto& e : by_type.events()) EXPECT_NE(e.type, "ItemAdded");
  EXPECT_EQ(by_prefix.events().size(), 10u);
  for (const auto& e : by_prefix.events()) EXPECT_EQ(e.stream_id.rfind("cart-", 0), 0u);

  RecordingHandler none;
  SubscriptionOptions n;
  n.name = "nothing-matches";
  n.event_types = {"NoSuchType"};
  auto c = Subscribe(none, n);
  ASSERT_TRUE(c->WaitUntil(15, 10s));
  EXPECT_TRUE(none.events().empty());
  EXPECT_EQ(*checkpoints_->Load("nothing-matches"), std::optional<std::string>("15"));
}

TEST_P(SubscriptionTest, PoisonEventIsParkedAndTheRestProcessed) {
  Append("s", 10);
  RecordingHandler handler;
  handler.Poison(4);
  SubscriptionOptions o;
  o.name = "poison";
  o.failure.max_attempts = 3;
  auto sub = Subscribe(handler, o);
  ASSERT_TRUE(sub->WaitUntil(10, 10s));
  auto events = handler.events();
  ASSERT_EQ(events.size(), 9u);
  for (const auto& e : events) EXPECT_NE(e.position, 4);
  EXPECT_EQ(sub->GetStatus().parked, 1);
  auto parked = checkpoints_->ListParked("poison");
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].event.position, 4);
  EXPECT_EQ((*parked)[0].attempts, 3);
  EXPECT_NE((*parked)[0].error.find("poison at 4"), std::string::npos);

  // The operator fixes the cause and asks for a retry: delivered again, and unparked.
  handler.Cure();
  ASSERT_TRUE(checkpoints_->RequestRetry((*parked)[0].id).ok());
  for (int i = 0; i < 200 && sub->GetStatus().parked > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(sub->GetStatus().parked, 0);
  EXPECT_TRUE(checkpoints_->ListParked("poison")->empty());
  EXPECT_EQ(handler.events().back().position, 4);
  EXPECT_EQ(checkpoints_->RequestRetry(12345).error().code, ErrorCode::kNotFound);
}

TEST_P(SubscriptionTest, StopPolicyStopsBeforeThePoisonEvent) {
  Append("s", 10);
  RecordingHandler handler;
  handler.Poison(6);
  SubscriptionOptions o;
  o.name = "stopper";
  o.failure.max_attempts = 2;
  o.failure.on_exhausted = FailurePolicy::OnExhausted::kStop;
  auto sub = Subscribe(handler, o);
  EXPECT_FALSE(sub->WaitUntil(10, 10s));
  auto status = sub->GetStatus();
  EXPECT_EQ(status.state, SubscriptionStatus::State::kFailed);
  EXPECT_EQ(status.checkpoint, 5);
  EXPECT_NE(status.error.find("position 6"), std::string::npos) << status.error;
  EXPECT_EQ(*checkpoints_->Load("stopper"), std::optional<std::string>("5"));
  EXPECT_EQ(handler.events().size(), 5u);
}

TEST_P(SubscriptionTest, ConsumerGroupHandlesEveryEventOnceWithPerStreamOrder) {
  for (int i = 0; i < 30; ++i) Append("stream-" + std::to_string(i % 10), 3);
  RecordingHandler members[3];
  std::vector<std::unique_ptr<Subscription>> subs;
  for (int m = 0; m < 3; ++m) {
    SubscriptionOptions o;
    o.name = "group";
    o.group_size = 3;
    o.group_member = m;
    subs.push_back(Subscribe(members[m], o));
  }
  const int64_t head = Head();
  std::map<int64_t, int> seen;
  std::map<std::string, int> owner;
  for (int m = 0; m < 3; ++m) {
    ASSERT_TRUE(subs[m]->WaitUntil(head, 10s));
    std::map<std::string, int64_t> last_version;
    for (const auto& e : members[m].events()) {
      ++seen[e.position];
      auto [it, inserted] = owner.emplace(e.stream_id, m);
      EXPECT_EQ(it->second, m) << "stream " << e.stream_id << " split across members";
      EXPECT_GT(e.version, last_version[e.stream_id]);
      last_version[e.stream_id] = e.version;
    }
    EXPECT_EQ(*checkpoints_->Load("group#" + std::to_string(m) + "/3"),
              std::optional<std::string>(std::to_string(head)));
  }
  ASSERT_EQ(static_cast<int64_t>(seen.size()), head);
  for (const auto& [position, count] : seen) EXPECT_EQ(count, 1) << position;
}

TEST_P(SubscriptionTest, BadOptionsAreErrors) {
  RecordingHandler handler;
  SubscriptionOptions o;
  EXPECT_FALSE(Subscription::Start(*store_, *checkpoints_, handler, o).ok());
  o.name = "x";
  o.group_size = 2;
  o.group_member = 2;
  EXPECT_FALSE(Subscription::Start(*store_, *checkpoints_, handler, o).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, SubscriptionTest, testing::kBackends,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace evs
