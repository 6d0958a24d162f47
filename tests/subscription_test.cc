// Subscriptions on every backend with a global log: catch-up then live, exactly once in order
// for a clean run, filters, failure policy and parking, consumer groups, resume.
#include "evs/subscription.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "fake_clock.h"
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

// A checkpoint store that forwards to a real one, counts what the subscription asks, and fails
// saves or parks when told.
class InstrumentedCheckpoints : public CheckpointStore {
 public:
  explicit InstrumentedCheckpoints(CheckpointStore& real) : real_(real) {}
  std::atomic<bool> fail_save{false}, fail_park{false};
  std::atomic<int> list_calls{0}, retry_looks{0}, saves{0};

  Result<std::optional<std::string>> Load(const std::string& s) override { return real_.Load(s); }
  Status Save(const std::string& s, const std::string& c) override {
    if (fail_save) return Error::Make(ErrorCode::kIOError, "disk gone (test)");
    ++saves;
    return real_.Save(s, c);
  }
  Status Park(const ParkedEvent& p) override {
    if (fail_park) return Error::Make(ErrorCode::kIOError, "cannot park (test)");
    return real_.Park(p);
  }
  Result<std::vector<ParkedEvent>> ListParked(const std::string& s, int64_t after,
                                              size_t limit) override {
    ++list_calls;
    return real_.ListParked(s, after, limit);
  }
  Result<int64_t> CountParked(const std::string& s) override { return real_.CountParked(s); }
  Result<std::vector<ParkedEvent>> RetryRequested(const std::string& s, size_t limit) override {
    ++retry_looks;
    return real_.RetryRequested(s, limit);
  }
  Status RequestRetry(int64_t id) override { return real_.RequestRetry(id); }
  Status FinishRetry(int64_t id, const std::optional<std::string>& error) override {
    return real_.FinishRetry(id, error);
  }
  Status Unpark(int64_t id) override { return real_.Unpark(id); }
  Status SaveState(const std::string& s, const std::string& state,
                   const std::string& error) override {
    {
      std::lock_guard guard(mu_);
      saved_states_[s] = state + ": " + error;
    }
    return real_.SaveState(s, state, error);
  }
  // The state last saved for `name` ("<state>: <error>"), as `evs subscriptions` shows it.
  std::string SavedState(const std::string& name) {
    std::lock_guard guard(mu_);
    return saved_states_[name];
  }

 private:
  CheckpointStore& real_;
  std::mutex mu_;
  std::map<std::string, std::string> saved_states_;
};

// A store whose log reads fail while `failing` is set, and whose waits for commits fail while
// `failing_waits` is.
class FlakyReads : public EventStore {
 public:
  explicit FlakyReads(EventStore& real) : real_(real) {}
  std::atomic<bool> failing{false}, failing_waits{false};
  std::atomic<int> failed_reads{0}, failed_waits{0};

  Result<AppendResult> Append(std::string_view s, ExpectedVersion e,
                              std::vector<EventData> events) override {
    return real_.Append(s, e, std::move(events));
  }
  Result<StreamPage> ReadStream(std::string_view s, const ReadStreamOptions& o) override {
    return real_.ReadStream(s, o);
  }
  Result<LogPage> ReadLog(int64_t after, size_t limit) override {
    if (!failing) {
      auto page = real_.ReadLog(after, limit);
      // A read that was under way when `failing` was set fails too: it may have seen what was
      // appended after.
      if (!failing) return page;
    }
    ++failed_reads;
    return Error::Make(ErrorCode::kIOError, "the disk is busy (test)");
  }
  Result<StreamsPage> ListStreams(std::string_view after, size_t limit) override {
    return real_.ListStreams(after, limit);
  }
  Result<int64_t> StreamVersion(std::string_view s) override { return real_.StreamVersion(s); }
  Result<int64_t> HeadPosition() override { return real_.HeadPosition(); }
  Result<int64_t> WaitForHead(int64_t after, std::chrono::milliseconds timeout) override {
    if (failing_waits) {
      ++failed_waits;
      return Error::Make(ErrorCode::kIOError, "the head cannot be read (test)");
    }
    return real_.WaitForHead(after, timeout);
  }

 private:
  EventStore& real_;
};

// Polls `done` for up to 10 s.
template <class Done>
bool Eventually(Done&& done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

class SubscriptionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    factory_ = testing::MakeFactory(GetParam());
    if (auto reason = factory_->SkipReason(); !reason.empty()) GTEST_SKIP() << reason;
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

// While catching up the checkpoint is saved at most every catch_up_checkpoint_interval; the
// batches near the head save it, so that once WaitUntil() reaches the head it is saved. With an
// interval of zero every batch saves it.
TEST_P(SubscriptionTest, CatchingUpSavesTheCheckpointAtMostEveryIntervalAndAtTheHead) {
  Append("s", 100);
  for (auto interval : {std::chrono::milliseconds(std::chrono::hours(1)), 0ms}) {
    RecordingHandler handler;
    InstrumentedCheckpoints checkpoints(*checkpoints_);
    SubscriptionOptions o;
    o.name = "throttled-" + std::to_string(interval.count());
    o.batch_size = 5;
    o.catch_up_checkpoint_interval = interval;
    auto started = Subscription::Start(*store_, checkpoints, handler, o);
    ASSERT_TRUE(started.ok()) << started.error().message;
    ASSERT_TRUE((*started)->WaitUntil(100, 10s));
    EXPECT_EQ(*checkpoints_->Load(o.name), std::optional<std::string>("100"));
    ExpectExactlyOnceInOrder(handler.events(), 100);
    if (interval.count() > 0) {
      // The batches that come within batch_size of the head (and maybe none other).
      EXPECT_LE(checkpoints.saves.load(), 3);
    } else {
      EXPECT_EQ(checkpoints.saves.load(), 20);
    }
    started->reset();
  }
}

// A handler that stops its subscription from within, on one position.
class StopAtHandler : public EventHandler {
 public:
  explicit StopAtHandler(int64_t at) : at_(at) {}
  std::atomic<Subscription*> subscription{nullptr};
  Status Handle(std::span<const RecordedEvent> batch) override {
    for (const auto& e : batch) {
      if (e.position == at_) {
        // Bounded: the test sets it right after Start().
        for (int i = 0; i < 1000 && !subscription.load(); ++i) std::this_thread::sleep_for(1ms);
        if (Subscription* s = subscription.load()) s->Stop();
      }
    }
    return OkStatus();
  }

 private:
  const int64_t at_;
};

// Stop() while catching up (checkpoints not yet saved) saves what was handled, and a restart
// goes on from there.
TEST_P(SubscriptionTest, StopWhileCatchingUpSavesWhatWasHandled) {
  Append("s", 100);
  StopAtHandler handler(48);
  SubscriptionOptions o;
  o.name = "stopped-early";
  o.batch_size = 5;
  o.catch_up_checkpoint_interval = std::chrono::hours(1);
  auto sub = Subscribe(handler, o);
  handler.subscription = sub.get();
  ASSERT_TRUE(
      Eventually([&] { return sub->GetStatus().state == SubscriptionStatus::State::kStopped; }));
  EXPECT_EQ(sub->GetStatus().checkpoint, 50);  // the batch in hand, 46..50, was handled
  EXPECT_EQ(*checkpoints_->Load("stopped-early"), std::optional<std::string>("50"));
  sub.reset();
  RecordingHandler rest;
  auto resumed = Subscribe(rest, o);
  ASSERT_TRUE(resumed->WaitUntil(100, 10s));
  auto events = rest.events();
  ASSERT_EQ(events.size(), 50u);
  EXPECT_EQ(events.front().position, 51);
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
  auto parked = checkpoints_->ListParked("poison", 0, 100);
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
  EXPECT_TRUE(checkpoints_->ListParked("poison", 0, 100)->empty());
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

// A retry that fails again leaves the event parked, updated in one step: before, it was
// unparked and parked again, and an error (or a crash) between the two lost it.
TEST_P(SubscriptionTest, AFailedRetryStaysParkedInOneStep) {
  Append("s", 5);
  RecordingHandler handler;
  handler.Poison(3);
  InstrumentedCheckpoints checkpoints(*checkpoints_);
  SubscriptionOptions o;
  o.name = "retry";
  o.failure.max_attempts = 2;
  o.failure.initial_backoff = 1ms;
  o.idle_wait = 10ms;
  auto started = Subscription::Start(*store_, checkpoints, handler, o);
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto& sub = *started;
  ASSERT_TRUE(sub->WaitUntil(5, 10s));
  auto parked = checkpoints_->ListParked("retry", 0, 10);
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 1u);
  // Still poisoned, and parking anew would fail: the retry's failure is recorded in place.
  checkpoints.fail_park = true;
  ASSERT_TRUE(checkpoints_->RequestRetry((*parked)[0].id).ok());
  ASSERT_TRUE(Eventually([&] {
    auto now = checkpoints_->ListParked("retry", 0, 10);
    return now.ok() && now->size() == 1 && !(*now)[0].retry_requested;
  }));
  auto after = checkpoints_->ListParked("retry", 0, 10);
  ASSERT_EQ(after->size(), 1u) << "the event was lost";
  EXPECT_EQ((*after)[0].id, (*parked)[0].id);
  EXPECT_EQ((*after)[0].attempts, 3);
  EXPECT_EQ(sub->GetStatus().parked, 1);
}

// Read errors are retried with backoff and shown in the status (state "retrying", the error,
// how many in a row, since when) and saved for `evs subscriptions`; once the store answers, the
// feed goes on without a gap or a repeat.
TEST_P(SubscriptionTest, ReadErrorsAreVisibleAndTheFeedResumes) {
  Append("s", 10);
  FlakyReads flaky(*store_);
  RecordingHandler handler;
  InstrumentedCheckpoints checkpoints(*checkpoints_);
  SubscriptionOptions o;
  o.name = "flaky";
  o.failure.initial_backoff = 1ms;
  o.failure.max_backoff = 5ms;
  o.idle_wait = 10ms;
  o.clock = std::make_shared<testing::FakeClock>(1'700'000'000'000'000);
  auto started = Subscription::Start(flaky, checkpoints, handler, o);
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto& sub = *started;
  ASSERT_TRUE(sub->WaitUntil(10, 10s));
  flaky.failing = true;
  Append("s", 10);
  ASSERT_TRUE(Eventually([&] { return sub->GetStatus().read_failures >= 3; }));
  auto status = sub->GetStatus();
  EXPECT_EQ(status.state, SubscriptionStatus::State::kRetrying);
  EXPECT_STREQ(StateName(status.state), "retrying");
  EXPECT_NE(status.error.find("the disk is busy"), std::string::npos) << status.error;
  EXPECT_NE(status.error.find("since 2023-11-14T22:13:20"), std::string::npos) << status.error;
  EXPECT_EQ(status.retrying_since_us, 1'700'000'000'000'000);
  EXPECT_EQ(status.checkpoint, 10);
  EXPECT_EQ(checkpoints.SavedState("flaky").rfind("retrying: reading the log", 0), 0u)
      << checkpoints.SavedState("flaky");
  flaky.failing = false;
  ASSERT_TRUE(sub->WaitUntil(20, 10s));
  status = sub->GetStatus();
  EXPECT_NE(status.state, SubscriptionStatus::State::kRetrying);
  EXPECT_EQ(status.read_failures, 0);
  EXPECT_EQ(status.retrying_since_us, 0);
  EXPECT_TRUE(status.error.empty()) << status.error;
  ExpectExactlyOnceInOrder(handler.events(), 20);
}

// A store that reads the log but cannot wait for commits: before, the live subscription looped
// at full speed, read after read, and showed "live". Now those failures back off and show as
// "retrying" like failed reads, and the feed goes on once the waits work again.
TEST_P(SubscriptionTest, FailingWaitsForCommitsAreVisibleAndBackOff) {
  Append("s", 10);
  FlakyReads flaky(*store_);
  RecordingHandler handler;
  SubscriptionOptions o;
  o.name = "blind";
  o.failure.initial_backoff = 1ms;
  o.failure.max_backoff = 5ms;
  o.idle_wait = 10ms;
  auto started = Subscription::Start(flaky, *checkpoints_, handler, o);
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto& sub = *started;
  ASSERT_TRUE(sub->WaitUntil(10, 10s));
  flaky.failing_waits = true;
  ASSERT_TRUE(Eventually([&] {
    auto status = sub->GetStatus();
    return status.state == SubscriptionStatus::State::kRetrying && status.read_failures >= 3;
  }));
  auto status = sub->GetStatus();
  EXPECT_NE(status.error.find("waiting for commits after position 10"), std::string::npos)
      << status.error;
  EXPECT_NE(status.error.find("the head cannot be read"), std::string::npos) << status.error;
  flaky.failing_waits = false;
  Append("s", 5);
  ASSERT_TRUE(sub->WaitUntil(15, 10s));
  ASSERT_TRUE(Eventually([&] { return sub->GetStatus().read_failures == 0; }));
  EXPECT_EQ(sub->GetStatus().state, SubscriptionStatus::State::kLive);
  ExpectExactlyOnceInOrder(handler.events(), 15);
}

// What a run saved of its trouble does not outlive it: before, a later healthy run wrote no
// state, and `evs subscriptions` kept showing the old failure.
TEST_P(SubscriptionTest, AFailureSavedByAnEarlierRunIsReplaced) {
  Append("s", 10);
  InstrumentedCheckpoints checkpoints(*checkpoints_);
  RecordingHandler handler;
  handler.Poison(6);
  SubscriptionOptions o;
  o.name = "healed";
  o.failure.max_attempts = 1;
  o.failure.on_exhausted = FailurePolicy::OnExhausted::kStop;
  {
    auto started = Subscription::Start(*store_, checkpoints, handler, o);
    ASSERT_TRUE(started.ok()) << started.error().message;
    ASSERT_TRUE(Eventually(
        [&] { return (*started)->GetStatus().state == SubscriptionStatus::State::kFailed; }));
    EXPECT_EQ(checkpoints.SavedState("healed").rfind("failed: ", 0), 0u)
        << checkpoints.SavedState("healed");
  }
  handler.Cure();
  auto started = Subscription::Start(*store_, checkpoints, handler, o);
  ASSERT_TRUE(started.ok()) << started.error().message;
  ASSERT_TRUE((*started)->WaitUntil(10, 10s));
  const std::string saved = checkpoints.SavedState("healed");
  EXPECT_EQ(saved.find("failed"), std::string::npos) << saved;
}

// A checkpoint that cannot be saved leaves the subscription failed with that error: before, the
// failed state was overwritten as "stopped".
TEST_P(SubscriptionTest, ACheckpointThatCannotBeSavedStaysFailed) {
  Append("s", 10);
  RecordingHandler handler;
  handler.Poison(6);
  InstrumentedCheckpoints checkpoints(*checkpoints_);
  checkpoints.fail_save = true;
  SubscriptionOptions o;
  o.name = "unsaved";
  o.batch_size = 100;
  o.failure.max_attempts = 1;
  o.failure.on_exhausted = FailurePolicy::OnExhausted::kStop;
  auto started = Subscription::Start(*store_, checkpoints, handler, o);
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto& sub = *started;
  ASSERT_TRUE(Eventually([&] {
    auto state = sub->GetStatus().state;
    return state == SubscriptionStatus::State::kFailed ||
           state == SubscriptionStatus::State::kStopped;
  }));
  const auto status = sub->GetStatus();
  EXPECT_EQ(status.state, SubscriptionStatus::State::kFailed);
  EXPECT_NE(status.error.find("cannot save the checkpoint"), std::string::npos) << status.error;
}

// Requested retries run while the feed is busy catching up, not only once it is idle.
TEST_P(SubscriptionTest, RequestedRetriesRunWhileTheFeedIsBusy) {
  for (int i = 0; i < 20; ++i) {
    std::vector<EventData> events(50, Tick());
    ASSERT_TRUE(store_->Append("s", ExpectedVersion::Any(), std::move(events)).ok());
  }
  const int64_t head = Head();  // 1,000 events
  // Slow: each batch of one event takes 2 ms, so catching up takes two seconds or more.
  class Slow : public RecordingHandler {
   public:
    Status Handle(std::span<const RecordedEvent> batch) override {
      std::this_thread::sleep_for(2ms);
      return RecordingHandler::Handle(batch);
    }
  } handler;
  handler.Poison(2);
  SubscriptionOptions o;
  o.name = "busy";
  o.batch_size = 1;
  o.failure.max_attempts = 1;
  o.idle_wait = 20ms;
  auto sub = Subscribe(handler, o);
  ASSERT_TRUE(Eventually([&] { return sub->GetStatus().parked == 1; }));
  handler.Cure();
  auto parked = checkpoints_->ListParked("busy", 0, 10);
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 1u);
  ASSERT_TRUE(checkpoints_->RequestRetry((*parked)[0].id).ok());
  ASSERT_TRUE(Eventually([&] { return sub->GetStatus().parked == 0; }));
  EXPECT_LT(sub->GetStatus().checkpoint, head) << "retried only once the feed was idle";
  ASSERT_TRUE(sub->WaitUntil(head, 30s));
}

// Parked events are listed in pages and counted without being read; a running subscription
// looks only for requested retries, at most every idle_wait, not at every commit.
TEST_P(SubscriptionTest, ParkedEventsArePagedAndNotListedAtEveryWakeUp) {
  Append("s", 5);
  RecordingHandler handler;
  for (int64_t p = 1; p <= 5; ++p) handler.Poison(p);
  InstrumentedCheckpoints checkpoints(*checkpoints_);
  SubscriptionOptions o;
  o.name = "pages";
  o.failure.max_attempts = 1;
  o.idle_wait = 500ms;
  auto started = Subscription::Start(*store_, checkpoints, handler, o);
  ASSERT_TRUE(started.ok()) << started.error().message;
  auto& sub = *started;
  ASSERT_TRUE(sub->WaitUntil(5, 10s));
  EXPECT_EQ(*checkpoints_->CountParked("pages"), 5);
  std::vector<int64_t> positions;
  for (int64_t after = 0;;) {
    auto page = checkpoints_->ListParked("pages", after, 2);
    ASSERT_TRUE(page.ok());
    ASSERT_LE(page->size(), 2u);
    if (page->empty()) break;
    for (const auto& p : *page) positions.push_back(p.event.position);
    after = page->back().id;
  }
  EXPECT_EQ(positions, (std::vector<int64_t>{1, 2, 3, 4, 5}));

  // 100 commits, each waking the live subscription.
  handler.Cure();
  checkpoints.retry_looks = 0;
  const auto start = std::chrono::steady_clock::now();
  Append("s", 100);
  ASSERT_TRUE(sub->WaitUntil(105, 10s));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(checkpoints.list_calls, 0);
  EXPECT_LE(checkpoints.retry_looks, 2 + elapsed / o.idle_wait) << "looked at every wake-up";
}

TEST_P(SubscriptionTest, ParkedTimesComeFromTheSubscriptionsClock) {
  Append("s", 3);
  RecordingHandler handler;
  handler.Poison(2);
  SubscriptionOptions o;
  o.name = "clocked";
  o.failure.max_attempts = 1;
  o.clock = std::make_shared<testing::FakeClock>(1'234'000'000);
  auto sub = Subscribe(handler, o);
  ASSERT_TRUE(sub->WaitUntil(3, 10s));
  auto parked = checkpoints_->ListParked("clocked", 0, 10);
  ASSERT_TRUE(parked.ok());
  ASSERT_EQ(parked->size(), 1u);
  EXPECT_EQ((*parked)[0].parked_at_us, 1'234'000'000);
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
