// Projections: the cart-summary read model follows the feed, resumes exactly once, and
// rebuilds into a new generation while the old one serves.
#include "evs/projection.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "cart/cart.h"
#include "cart/cart_summary_projection.h"
#include "cart_traffic.h"
#include "evs/repository.h"
#include "read_model_dump.h"
#include "store_factory.h"

namespace evs {
namespace {

using namespace std::chrono_literals;

using testing::DumpCartReadModel;

class ProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = factory_.Open({});
    ASSERT_NE(store_, nullptr);
  }

  // Random cart traffic: opens, adds, removes, checkouts.
  void Traffic(int commands, unsigned seed) { testing::CartTraffic(*store_, ids_, commands, seed); }

  Result<std::unique_ptr<ProjectionRunner>> Runner(const std::string& file) {
    ProjectionOptions o;
    o.path = dir_.File(file);
    o.batch_size = 16;
    return ProjectionRunner::Open(*store_, projection_, o);
  }

  testing::SqliteFactory factory_;
  std::unique_ptr<EventStore> store_;
  testing::TempDir dir_;
  cart::CartSummaryProjection projection_;
  std::vector<std::string> ids_;
};

TEST_F(ProjectionTest, ReadModelMatchesTheAggregates) {
  Traffic(300, 1);
  auto runner = Runner("read.sqlite");
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 20s));
  Repository<cart::Cart> repo(*store_);
  testing::ExpectReadModelMatchesCarts(dir_.File("read.sqlite"), repo, ids_);
}

TEST_F(ProjectionTest, StoppedAndRestartedEqualsAFreshBuild) {
  Traffic(200, 2);
  {
    auto runner = Runner("live.sqlite");
    ASSERT_TRUE(runner.ok());
    ASSERT_TRUE((*runner)->Start().ok());
    ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition() / 2, 20s));
    (*runner)->Stop();  // somewhere in the middle
  }
  Traffic(200, 3);
  auto restarted = Runner("live.sqlite");
  ASSERT_TRUE(restarted.ok());
  ASSERT_TRUE((*restarted)->Start().ok());
  auto fresh = Runner("fresh.sqlite");
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->Start().ok());
  const int64_t head = *store_->HeadPosition();
  ASSERT_TRUE((*restarted)->WaitUntil(head, 20s));
  ASSERT_TRUE((*fresh)->WaitUntil(head, 20s));
  (*restarted)->Stop();
  (*fresh)->Stop();
  EXPECT_EQ(DumpCartReadModel(dir_.File("live.sqlite")),
            DumpCartReadModel(dir_.File("fresh.sqlite")));
}

TEST_F(ProjectionTest, RebuildSwapsInANewGenerationThatMatches) {
  Traffic(200, 4);
  auto runner = Runner("read.sqlite");
  ASSERT_TRUE(runner.ok());
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 20s));
  const std::string before = DumpCartReadModel(dir_.File("read.sqlite"));
  EXPECT_EQ((*runner)->CheckpointName(), "projection:cart_summary_g1");
  int progress_calls = 0;
  ASSERT_TRUE((*runner)->Rebuild([&](int64_t, int64_t) { ++progress_calls; }).ok());
  EXPECT_GT(progress_calls, 0);
  EXPECT_EQ((*runner)->CheckpointName(), "projection:cart_summary_g2");
  EXPECT_EQ(DumpCartReadModel(dir_.File("read.sqlite")), before);
  Traffic(50, 5);  // the new generation follows the feed
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 20s));
  (*runner)->Stop();
  auto fresh = Runner("fresh.sqlite");
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->Start().ok());
  ASSERT_TRUE((*fresh)->WaitUntil(*store_->HeadPosition(), 20s));
  (*fresh)->Stop();
  EXPECT_EQ(DumpCartReadModel(dir_.File("read.sqlite")),
            DumpCartReadModel(dir_.File("fresh.sqlite")));
}

// A feed with only per-stream order (Kinesis, Lambda batches): streams interleaved at random,
// batches of random sizes, runs of events delivered again, a restart in the middle; the read
// model must equal the one the embedded feed builds.
TEST_F(ProjectionTest, StreamOrderedFeedWithRepeatsBuildsTheSameReadModel) {
  Traffic(300, 6);
  auto reference = Runner("reference.sqlite");
  ASSERT_TRUE(reference.ok());
  ASSERT_TRUE((*reference)->Start().ok());
  ASSERT_TRUE((*reference)->WaitUntil(*store_->HeadPosition(), 20s));
  (*reference)->Stop();

  auto log = store_->ReadLog(0, 1'000'000);
  ASSERT_TRUE(log.ok());
  std::map<std::string, std::vector<RecordedEvent>> by_stream;
  for (const RecordedEvent& e : log->events) by_stream[e.stream_id].push_back(e);
  // Deliveries: take the next run of a random stream, sometimes going back a few events first.
  std::mt19937 random(7);
  std::map<std::string, size_t> next;
  std::vector<RecordedEvent> deliveries;
  size_t repeats = 0;
  for (size_t left = log->events.size(); left > 0;) {
    auto it = by_stream.begin();
    std::advance(it, random() % by_stream.size());
    size_t& at = next[it->first];
    if (at == it->second.size()) continue;
    if (at > 0 && random() % 4 == 0) {
      const size_t back = 1 + random() % std::min<size_t>(at, 3);
      for (size_t i = at - back; i < at; ++i) deliveries.push_back(it->second[i]);
      repeats += back;
    }
    const size_t run = std::min<size_t>(1 + random() % 4, it->second.size() - at);
    for (size_t i = at; i < at + run; ++i) deliveries.push_back(it->second[i]);
    at += run;
    left -= run;
  }

  ProjectionOptions o;
  o.path = dir_.File("streams.sqlite");
  int64_t applied = 0, skipped = 0;
  for (size_t at = 0, round = 0; at < deliveries.size(); ++round) {
    // Reopened now and then, as a restarted consumer would.
    auto handler = StreamProjectionHandler::Open(projection_, o);
    ASSERT_TRUE(handler.ok()) << handler.error().message;
    for (int batches = 0; batches < 20 && at < deliveries.size(); ++batches) {
      const size_t n = std::min<size_t>(1 + random() % 40, deliveries.size() - at);
      ASSERT_TRUE((*handler)->Handle({deliveries.data() + at, n}).ok());
      at += n;
    }
    applied += (*handler)->Stats().applied;
    skipped += (*handler)->Stats().skipped;
  }
  EXPECT_EQ(applied, static_cast<int64_t>(log->events.size()));
  EXPECT_EQ(skipped, static_cast<int64_t>(repeats));
  EXPECT_GT(repeats, 0u);
  EXPECT_EQ(DumpCartReadModel(o.path), DumpCartReadModel(dir_.File("reference.sqlite")));
}

TEST_F(ProjectionTest, StreamOrderedFeedThatSkipsAVersionIsRefusedWhole) {
  Traffic(40, 8);
  auto log = store_->ReadLog(0, 1'000'000);
  ASSERT_TRUE(log.ok());
  ProjectionOptions o;
  o.path = dir_.File("streams.sqlite");
  auto handler = StreamProjectionHandler::Open(projection_, o);
  ASSERT_TRUE(handler.ok());
  // The first event of each of two streams, then the third of one of them.
  std::map<std::string, std::vector<RecordedEvent>> by_stream;
  for (const RecordedEvent& e : log->events) by_stream[e.stream_id].push_back(e);
  const RecordedEvent* with_three = nullptr;
  const RecordedEvent* other = nullptr;
  for (const auto& [id, events] : by_stream) {
    if (with_three == nullptr && events.size() >= 3) {
      with_three = &events[0];
    } else if (other == nullptr) {
      other = &events[0];
    }
  }
  ASSERT_TRUE(with_three != nullptr && other != nullptr);
  const std::vector<RecordedEvent>& stream = by_stream[with_three->stream_id];
  ASSERT_TRUE((*handler)->Handle({&stream[0], 1}).ok());
  const std::string before = DumpCartReadModel(o.path);
  std::vector<RecordedEvent> gap{*other, stream[2]};
  Status refused = (*handler)->Handle(gap);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("applied up to version 1"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("hands version 3"), std::string::npos);
  EXPECT_EQ(DumpCartReadModel(o.path), before) << "nothing of a refused batch is applied";
  EXPECT_EQ(*(*handler)->AppliedVersion(other->stream_id), 0);
  EXPECT_EQ(*(*handler)->AppliedVersion(stream[0].stream_id), 1);
  ASSERT_TRUE((*handler)->Handle({&stream[1], 2}).ok());  // the missing one arrives: it goes on
  EXPECT_EQ(*(*handler)->AppliedVersion(stream[0].stream_id), 3);
}

// A projection whose next generation's events wait on a gate (to hold a rebuild in progress) or
// fail (to make it stop).
class GatedProjection : public Projection {
 public:
  std::string Name() const override { return "gated"; }
  std::vector<std::string> Tables() const override { return {"seen"}; }
  Status CreateTables(ReadModel& model) override {
    return model.Execute("CREATE TABLE IF NOT EXISTS seen" + model.Suffix() + "(position INTEGER)");
  }
  Status Apply(ReadModel& model, const RecordedEvent&) override {
    if (model.Suffix() == "_g1") return OkStatus();
    if (fail_rebuild) return Error::Make(ErrorCode::kInvalidArgument, "refused (test)");
    std::unique_lock lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    return OkStatus();
  }
  void Open() {
    std::lock_guard guard(mu);
    open = true;
    cv.notify_all();
  }
  void WaitEntered() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });
  }

  std::atomic<bool> fail_rebuild{false};
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, open = false;
};

// Status calls answer while a rebuild runs: before, the runner held its lock through the whole
// rebuild and every status call (GET /subscriptions) waited for it.
TEST_F(ProjectionTest, StatusAnswersWhileARebuildRuns) {
  Traffic(20, 7);
  GatedProjection gated;
  ProjectionOptions o;
  o.path = dir_.File("gated.sqlite");
  auto runner = ProjectionRunner::Open(*store_, gated, o);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 20s));
  auto rebuild = std::async(std::launch::async, [&] { return (*runner)->Rebuild({}); });
  gated.WaitEntered();  // the rebuild is applying its first event, and waits
  auto status = std::async(std::launch::async, [&] { return (*runner)->GetStatus(); });
  const bool answered = status.wait_for(10s) == std::future_status::ready;
  gated.Open();
  EXPECT_TRUE(answered) << "GetStatus waited for the rebuild";
  ASSERT_TRUE(rebuild.get().ok());
  EXPECT_EQ(status.get().checkpoint, *store_->HeadPosition());
  EXPECT_EQ((*runner)->CheckpointName(), "projection:gated_g2");
}

// A failed rebuild restarts the live projection; when that fails too, both are said, and the
// runner shows itself failed instead of silently stopped.
TEST_F(ProjectionTest, ALiveProjectionThatCannotRestartIsReported) {
  Traffic(20, 8);
  GatedProjection gated;
  gated.fail_rebuild = true;
  ProjectionOptions o;
  o.path = dir_.File("gated.sqlite");
  o.failure.max_attempts = 1;
  o.failure.on_exhausted = FailurePolicy::OnExhausted::kStop;
  auto runner = ProjectionRunner::Open(*store_, gated, o);
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->WaitUntil(*store_->HeadPosition(), 20s));
  // The live checkpoint is damaged behind the runner's back: the live subscription cannot start.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(o.path.c_str(), &db), SQLITE_OK);
  const std::string sql = "UPDATE checkpoints SET checkpoint = 'garbage' WHERE subscription = '" +
                          (*runner)->CheckpointName() + "'";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto rebuilt = (*runner)->Rebuild({});
  ASSERT_FALSE(rebuilt.ok());
  EXPECT_NE(rebuilt.error().message.find("the rebuild stopped"), std::string::npos)
      << rebuilt.error().message;
  EXPECT_NE(rebuilt.error().message.find("could not start again"), std::string::npos)
      << rebuilt.error().message;
  const auto status = (*runner)->GetStatus();
  EXPECT_EQ(status.state, SubscriptionStatus::State::kFailed);
  EXPECT_NE(status.error.find("garbage"), std::string::npos) << status.error;
}

// Status calls answer while another thread waits for a position: before, WaitUntil held the
// runner's lock for its whole timeout and GetStatus (GET /subscriptions) waited behind it.
TEST_F(ProjectionTest, StatusAnswersWhileAnotherThreadWaits) {
  Traffic(10, 9);
  auto runner = Runner("waited.sqlite");
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  const int64_t head = *store_->HeadPosition();
  ASSERT_TRUE((*runner)->WaitUntil(head, 20s));
  // A position nobody appends: the waiter waits until Stop() or its 60 s pass.
  auto waiter = std::async(std::launch::async, [&] { return (*runner)->WaitUntil(head + 1, 60s); });
  for (int i = 0; i < 20; ++i) {
    auto status = std::async(std::launch::async, [&] { return (*runner)->GetStatus(); });
    ASSERT_EQ(status.wait_for(10s), std::future_status::ready) << "GetStatus waited for WaitUntil";
    EXPECT_EQ(status.get().checkpoint, head);
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(waiter.wait_for(0s), std::future_status::timeout) << "the waiter is still waiting";
  (*runner)->Stop();  // ends the wait
  EXPECT_FALSE(waiter.get());
}

// The generation, read by status calls while a rebuild swaps it, is read without a data race
// (this test is for the ThreadSanitizer build: before, generation_ was a plain integer).
TEST_F(ProjectionTest, NameAndStatusAreReadWhileARebuildSwaps) {
  Traffic(40, 10);
  auto runner = Runner("swapped.sqlite");
  ASSERT_TRUE(runner.ok()) << runner.error().message;
  ASSERT_TRUE((*runner)->Start().ok());
  std::atomic<bool> done{false};
  std::set<std::string> names;
  std::thread reader([&] {
    while (!done) {
      names.insert((*runner)->CheckpointName());
      names.insert((*runner)->GetStatus().name);
    }
  });
  Status rebuilt = (*runner)->Rebuild({});
  done = true;
  reader.join();
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().message;
  for (const std::string& name : names) {
    EXPECT_TRUE(name == "projection:cart_summary_g1" || name == "projection:cart_summary_g2")
        << name;
  }
  EXPECT_EQ((*runner)->CheckpointName(), "projection:cart_summary_g2");
}

}  // namespace
}  // namespace evs
